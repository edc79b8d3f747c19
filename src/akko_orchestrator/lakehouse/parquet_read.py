"""Parquet files, read whole with pyarrow, page checksums verified where the writer stored them.

A Parquet file has no line to name and no row to set aside: it is typed and framed by its footer, so a truncated
or damaged file (bad magic bytes, a footer or page that does not decode) fails the step naming the file and, when
it can be told, the row group, whatever `on_bad_rows` says. The rows read must be the rows the footer declares.
Text columns must hold UTF-8 (Arrow's full validation); a column of bytes is kept, with a warning.
"""

from __future__ import annotations

import pyarrow as pa

from akko_orchestrator.lakehouse.file_read import BadRowsError, FileRead, binary_warnings

HINT = "the file is damaged or not Parquet: write it again (on_bad_rows does not apply: it has no rows to set aside)"


def read_parquet(path: str, name: str) -> FileRead:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise BadRowsError(name, None, f"not a readable Parquet file: {exc}", hint=HINT) from None
    with parquet:
        try:
            table = parquet.read()
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise BadRowsError(name, None, f"{_where(parquet)}does not decode: {exc}", hint=HINT) from None
        declared = parquet.metadata.num_rows
    _check_text(table, name)
    return FileRead(name, table, declared, warnings=binary_warnings(table, name))


def _where(parquet) -> str:  # parquet: pq.ParquetFile
    """The first row group that does not decode, and its rows ("" if each decodes alone)."""
    first = 0
    for index in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        try:
            parquet.read_row_group(index)
        except (pa.ArrowException, OSError, ValueError):
            return f"row group {index} (rows {first + 1}-{first + rows}) "
        first += rows
    return ""


def _check_text(table: pa.Table, name: str) -> None:
    """Every string value is UTF-8 (a Parquet writer may store any bytes under a string annotation)."""
    for column in table.column_names:
        data = table.column(column)
        if not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
            continue
        try:
            data.validate(full=True)
        except pa.ArrowInvalid:
            row = next(i for i, v in enumerate(data.cast(pa.binary()).to_pylist()) if v and not _utf8(v))
            reason = f"column {column!r}, row {row + 1}: text that is not valid UTF-8"
            raise BadRowsError(
                name, None, reason, hint="write the column as UTF-8 text (or as binary)"
            ) from None


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
