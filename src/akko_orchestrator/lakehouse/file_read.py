"""One source file of an ingest, read strictly: every row the file holds is read, or set aside with its line and
why (`on_bad_rows: quarantine`), or the step fails naming `file:line` and the reason (the default).

The rows the file holds are counted apart from the parser (lakehouse/text_lines.py; a Parquet file's footer), and
what the parser returned plus what it set aside must add up to them: a reader that loses rows without an error
fails the step instead of landing a partial file. Text that is not in the source's `encoding` (UTF-8 unless the
spec says otherwise) is a bad row, never a column silently read as bytes; a Parquet column that *is* bytes is
kept, with a warning in the task log and the step's summary.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.arrow_io import normalize

QUARANTINE_HINT = (
    "fix the file, or set `on_bad_rows: quarantine` on the source to load the other rows and set bad ones aside "
    "in a rejects table"
)


class BadRowsError(AkkoError):
    """A file the step may not load as it is: `file:line: reason; hint` (`line` None: the whole file)."""

    def __init__(self, file: str, line: int | None, reason: str, hint: str | None = QUARANTINE_HINT) -> None:
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}" + (f"; {hint}" if hint else ""))


@dataclass(frozen=True)
class Reject:
    """A row set aside: its line in the file (None: a Parquet or JSON-array element), why, and its text."""

    line: int | None
    error: str
    record: str
    column: str | None = None


@dataclass
class FileRead:
    """What one file gave: its good rows, how many rows it holds (counted apart from the parser), the rows set
    aside and warnings for the summary."""

    name: str
    table: pa.Table
    records: int
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def reconcile(self) -> None:
        """Rows read plus rows set aside are every row of the file, or the step fails (nothing is written)."""
        got = self.table.num_rows + len(self.rejects)
        if got != self.records:
            aside = f" and set {len(self.rejects)} aside" if self.rejects else ""
            raise BadRowsError(
                self.name,
                None,
                f"the reader returned {self.table.num_rows} rows{aside}, but the file holds {self.records}: "
                "refusing a partial file",
                hint="report it with the file: AKKO's reader should have named the bad row",
            )


ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16")


def read_file(
    path: str, file_format: str, name: str, on_bad_rows: str = "fail", encoding: str = "utf-8"
) -> FileRead:
    """Read the local file `path` (`name`: how messages call it, e.g. its object-store path) as csv, json
    (JSON lines or an array of objects) or parquet."""
    from akko_orchestrator.lakehouse.csv_read import read_csv
    from akko_orchestrator.lakehouse.json_read import read_json
    from akko_orchestrator.lakehouse.parquet_read import read_parquet

    quarantine = on_bad_rows == "quarantine"
    if file_format == "parquet":
        read = read_parquet(path, name)
    else:
        with utf8_copy(path, encoding, name) as text:
            reader = read_csv if file_format == "csv" else read_json
            read = reader(text, name, quarantine)
    read.table = normalize(read.table)
    read.reconcile()
    return read


@contextmanager
def utf8_copy(path: str, encoding: str, name: str) -> Iterator[str]:
    """`path` itself when it is meant to be UTF-8; else a temporary UTF-8 copy (Python's codecs: exact, and the
    one place every reader gets its text from). A byte the encoding cannot decode fails the step at its line."""
    if codecs.lookup(encoding).name == "utf-8":
        yield path
        return
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise BadRowsError(
            name, line, f"not valid {encoding}: {exc.reason}", hint="check the source's `encoding`"
        ) from None
    with tempfile.TemporaryDirectory(prefix="akko-ingest-") as folder:
        copy = os.path.join(folder, "utf8")
        with open(copy, "w", encoding="utf-8", newline="") as handle:
            handle.write(text.removeprefix("\ufeff"))
        yield copy


def binary_warnings(table: pa.Table, name: str) -> list[str]:
    """A column of bytes (a Parquet BYTE_ARRAY without a string annotation) stays bytes: said, never silent."""
    return [
        f"{name}: column '{f.name}' is binary (bytes, not text) and is stored as such; if it holds text, write it "
        "as a string column"
        for f in table.schema
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
    ]
