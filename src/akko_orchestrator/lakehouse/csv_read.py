"""CSV files: pyarrow's reader for a file it reads whole, DuckDB's strict reader to name (or set aside) bad rows.

pyarrow's reader alone loses rows without an error: on the issue's 2.6 million row file with one unterminated
quote it returned 2,581,290 rows (its block parser resynchronises on the next line break it trusts), and it reads a
column of text that is not UTF-8 as bytes. Its result is therefore kept only if its rows account for every line of
the file (counted apart, lakehouse/text_lines.py: blank lines and quoted values spanning lines explained) and no
column came out as bytes: then the table is exactly what pyarrow always gave (its types; the tests' expectations),
at pyarrow's speed plus a newline count (benchmarks/bench_ingest_csv.py: about 1.1x pyarrow alone, against 1.7x to
convert DuckDB's result to Arrow for every file).

Otherwise, or to set rows aside, the file is read again by DuckDB in strict mode, which refuses a file naming the
line and the reason (an unterminated quote, a wrong number of fields, bytes that are not UTF-8) and lists every
bad row in its rejects tables. Types as pyarrow infers them: sniffed by DuckDB on the first 20,480 rows with the
rows that do not parse left out of the sample, so one bad row near the top never stops the sniffer; a column with
a later value of another type widened (BIGINT, DOUBLE, text), as pyarrow infers from every value; dates and
timestamps only in ISO 8601 (pyarrow's rule: `01/02/2026` stays text rather than become the 1st of February); an
empty field NULL except in text columns, where it is `""`.

Each DuckDB read has its own in-memory database that may open only the files it reads (`allowed_paths`), with
external access off and the configuration locked: the reader can reach nothing else, whatever a file holds.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from akko_orchestrator.lakehouse.duckdb_files import file_reader
from akko_orchestrator.lakehouse.file_read import BadRowsError, FileRead, Reject
from akko_orchestrator.lakehouse.text_lines import Lines, continuation_lines, csv_record_lines, is_utf8

if TYPE_CHECKING:
    import duckdb

SAMPLE_ROWS = 20_480  # the sniffing sample: DuckDB's default
DIALECT = {"sep": ",", "quotechar": '"', "escapechar": '"', "header": True}  # pyarrow's defaults
TEMPORAL = ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIME WITH TIME ZONE")
# Rows DuckDB cannot delimit: after them its rejects no longer account for every line (tried: an unterminated
# quote in a 2.6M row file left 113,000 rows neither read nor rejected), so even quarantine fails the step.
UNSPLITTABLE = ("UNQUOTED VALUE", "LINE SIZE OVER MAXIMUM")
UNSPLIT_HINT = "fix the file: the rows after it cannot be told apart"
UNQUOTED = "a quote opened on this line is never closed"
UNSPLITTABLE_REASONS = (UNQUOTED, "Maximum line size")
_LINE = re.compile(r"CSV Error on Line: (\d+)")
_REASONS = re.compile(
    r"^(Expected Number of Columns.*|Error when converting column.*|Value with unterminated quote.*"
    r"|Invalid unicode.*|Maximum line size.*)$",
    re.M,
)
NOT_UTF8 = "not valid UTF-8; if the file is Latin-1 or Windows-1252, set `encoding: latin-1` (or `cp1252`) on the source"


def read_csv(path: str, name: str, quarantine: bool) -> FileRead:
    if os.path.getsize(path) == 0:
        raise BadRowsError(name, None, "the file is empty: a CSV file starts with a header line", hint=None)
    with open(path, "rb") as handle:
        lines = Lines(handle.read())
    if lines.leading_blank >= lines.count:
        raise BadRowsError(name, None, "the file has no header line", hint=None)
    return _CsvFile(path, name, lines, quarantine).read()


class _CsvFile:
    def __init__(self, path: str, name: str, lines: Lines, quarantine: bool) -> None:
        self.path, self.name, self.lines, self.quarantine = path, name, lines, quarantine
        self.header_line = lines.leading_blank + 1
        self.folder = ""

    def read(self) -> FileRead:
        names = self._header()
        whole = self._with_pyarrow(names)
        if whole is not None:
            return whole
        with tempfile.TemporaryDirectory(prefix="akko-csv-") as self.folder:
            types = self._types(names)
            table, rejects, warnings = self._read_all(types)
        table = _text_as_written(table)
        return FileRead(
            self.name, table, self._records(table.num_rows + len(rejects), table), rejects, warnings
        )

    def _with_pyarrow(self, names: list[str]) -> FileRead | None:
        """pyarrow's table if it holds every row of the file, as text where the file has text; else None."""
        import pyarrow.csv as pacsv

        try:
            table = pacsv.read_csv(pa.BufferReader(self.lines.data))
        except (pa.ArrowInvalid, ValueError):
            return None
        if table.column_names != names or any(pa.types.is_binary(f.type) for f in table.schema):
            return None
        if self._records(table.num_rows, table) != table.num_rows:
            return None
        return FileRead(self.name, table, table.num_rows)

    def _records(self, got: int, table: pa.Table) -> int:
        """The rows the file holds, counted apart from the parser: every line after the header if that is what
        the parser accounted for (blank lines and values spanning lines only make the count smaller, so an equal
        count proves nothing was lost); else the non-blank lines that do not continue a quoted value."""
        if got == self.lines.count - self.header_line:
            return got
        return self.lines.nonblank - 1 - continuation_lines(table)

    def _header(self) -> list[str]:
        raw = self.lines.raw(self.header_line)
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise BadRowsError(self.name, self.header_line, f"the header is {NOT_UTF8}", hint=None) from None
        names = next(csv.reader(io.StringIO(text)), [])
        if "" in names:
            reason = f"column {names.index('') + 1} of the header has no name"
            raise BadRowsError(self.name, self.header_line, reason, hint="name every column")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            reason = f"the header names {', '.join(map(repr, duplicates))} more than once"
            raise BadRowsError(self.name, self.header_line, reason, hint="give every column its own name")
        return names

    # ------------------------------------------------------------------------------------------------ types

    def _types(self, names: list[str]) -> dict[str, str]:
        """DuckDB's sniffed types on the sample's rows that parse (written out again by pyarrow, so the sniffer
        sees only well-formed rows), ISO dates only, checked by reading the sample with them."""
        import duckdb
        import pyarrow.csv as pacsv

        sample, clean = self._sample(), os.path.join(self.folder, "clean.csv")
        with file_reader(sample, clean) as con:
            try:
                text = _strict(dict.fromkeys(names, "VARCHAR"), self.lines)
                good = con.read_csv(sample, **text, store_rejects=True).to_arrow_table()
            except duckdb.Error:  # the full read names the problem
                return dict.fromkeys(names, "VARCHAR")
            pacsv.write_csv(good, clean)
            sniffed = con.read_csv(clean, **DIALECT, sample_size=-1)
            types = {n: str(t) for n, t in zip(sniffed.columns, sniffed.types, strict=True)}
            types = {n: types.get(n, "VARCHAR") for n in names}
            for _ in names:  # a temporal column the plain (ISO) parser refuses is text, as pyarrow has it
                refused = _refused_column(con, clean, types)
                if refused is None:
                    return types
                types[refused] = "VARCHAR"
        return types

    def _sample(self) -> str:
        """The header and the first SAMPLE_ROWS lines, as UTF-8 (an undecodable byte is the full read's
        business)."""
        data = self.lines.head(self.header_line + SAMPLE_ROWS).decode("utf-8", errors="replace")
        path = os.path.join(self.folder, "sample.csv")
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(data)
        return path

    # ---------------------------------------------------------------------------------------------- the file

    def _read_all(self, types: dict[str, str]) -> tuple[pa.Table, list[Reject], list[str]]:
        import duckdb

        try:
            table, rejects = self._duck_read(self.path, types)
            return table, rejects, []
        except duckdb.Error as exc:
            line, reason = self._located(exc)
        if self.quarantine and reason == NOT_UTF8:
            return self._without_bad_utf8(types)
        if self.quarantine or reason.startswith(UNSPLITTABLE_REASONS):
            raise BadRowsError(self.name, line, f"{reason}; this row cannot be set aside", hint=UNSPLIT_HINT)
        raise BadRowsError(self.name, line, reason)

    def _duck_read(self, path: str, types: dict[str, str]) -> tuple[pa.Table, list[Reject]]:
        """DuckDB's strict read of `path`. A column holding a value not of its sniffed type is widened (BIGINT to
        DOUBLE to VARCHAR) and the file read again: pyarrow infers a column's type from all its values, so such
        a value makes the column text there too, never a bad row."""
        import duckdb

        for _ in range(2 * len(types) + 1):
            with file_reader(path) as con:
                options = _strict(types, self.lines)
                try:
                    table = con.read_csv(path, **options, store_rejects=self.quarantine).to_arrow_table()
                except duckdb.Error as exc:
                    column = _cast_column(str(exc))
                    if column not in types:
                        raise
                    types = _widened(types, [column])
                    continue
                errors = self._errors(con)
            casts = sorted({e["column_name"] for e in errors.values() if e["error_type"] == "CAST"})
            if not casts:
                return table, self._rejects(errors)
            types = _widened(types, casts)
        raise BadRowsError(self.name, None, "its columns' types could not be settled", hint=None)

    def _without_bad_utf8(self, types: dict[str, str]) -> tuple[pa.Table, list[Reject], list[str]]:
        """Quarantine of lines that are not UTF-8 (DuckDB cannot set them aside itself): a copy of the file with
        them blanked (line numbers unchanged), read again."""
        import duckdb

        bad = [n for n in range(1, self.lines.count + 1) if not is_utf8(self.lines.raw(n))]
        blanked = os.path.join(self.folder, "utf8.csv")
        with open(blanked, "wb") as handle:
            previous = 0
            for number in bad:
                handle.write(self.lines.data[previous : int(self.lines.starts[number - 1])])
                previous = int(self.lines.ends[number - 1])
            handle.write(self.lines.data[previous:])
        try:
            table, rejects = self._duck_read(blanked, types)
        except duckdb.Error as exc:
            line, reason = self._located(exc)
            reason = f"{reason}; this row cannot be set aside"
            raise BadRowsError(self.name, line, reason, hint=UNSPLIT_HINT) from None
        own = [Reject(n, NOT_UTF8, self.lines.text(n)) for n in bad]
        warning = f"{self.name}: {len(bad)} row(s) are not valid UTF-8 and were set aside"
        return table, sorted([*own, *rejects], key=lambda r: r.line or 0), [warning]

    def _errors(self, con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, Any]]:
        """DuckDB's rejects of the last read, one per row: its error about the row's shape if it has one (a value
        then misplaced may also fail its column's type), else its first."""
        if not self.quarantine:
            return {}
        found: dict[int, dict[str, Any]] = {}
        for error in con.table("reject_errors").to_arrow_table().to_pylist():
            line = int(error["line"])
            about_shape = error["error_type"] != "CAST"
            if line not in found or (about_shape and found[line]["error_type"] == "CAST"):
                found[line] = error
        return found

    def _rejects(self, errors: dict[int, dict[str, Any]]) -> list[Reject]:
        unsplittable = [e for e in errors.values() if e["error_type"] in UNSPLITTABLE]
        physical = self._physical(list(errors))
        if unsplittable:
            line = physical[int(unsplittable[0]["line"])]
            reason = f"{_reason(unsplittable[0]['error_message'])}; this row cannot be set aside"
            raise BadRowsError(self.name, line, reason, hint=UNSPLIT_HINT)
        return [
            Reject(physical[n], _reason(e["error_message"]), self.lines.text(physical[n]), e["column_name"])
            for n, e in sorted(errors.items())
        ]

    def _located(self, exc: Exception) -> tuple[int | None, str]:
        message = str(exc)
        found = _LINE.search(message)
        reason = _reason(message)
        if found is None:
            return None, reason
        number = int(found.group(1))
        return self._physical([number])[number], reason

    def _physical(self, numbers: list[int]) -> dict[int, int]:
        """DuckDB's row numbers as lines of the file: the same unless a quoted value spans lines before them."""
        quote = self.lines.data.find(b'"')
        before = self.lines.line_of(quote) if quote != -1 else self.lines.count  # no quoted value spans lines
        found = {n: n for n in numbers if n <= before}
        return {**found, **csv_record_lines(self.path, [n for n in numbers if n > before])}


def _strict(types: dict[str, str], lines: Lines) -> dict[str, Any]:
    """The full read: pyarrow's dialect, these types, nothing sniffed, strict about every row."""
    options: dict[str, Any] = {**DIALECT, "columns": types, "auto_detect": False, "strict_mode": True}
    return {**options, "skiprows": lines.leading_blank}


def _refused_column(con: duckdb.DuckDBPyConnection, path: str, types: dict[str, str]) -> str | None:
    """The first temporal column of `types` that DuckDB's plain (ISO 8601) parser refuses in `path`."""
    import duckdb

    if not any(t in TEMPORAL for t in types.values()):
        return None
    options = {**DIALECT, "columns": types, "auto_detect": False, "strict_mode": True}
    try:
        con.read_csv(path, **options).to_arrow_table()
    except duckdb.Error as exc:
        column = re.search(r'converting column "(.*?)"', str(exc))
        if column and types.get(column.group(1)) in TEMPORAL:
            return column.group(1)
        return next(n for n, t in types.items() if t in TEMPORAL)
    return None


def _cast_column(message: str) -> str | None:
    found = re.search(r'Error when converting column "(.*?)"', message)
    return found.group(1) if found else None


def _widened(types: dict[str, str], columns: list[str]) -> dict[str, str]:
    wider = {"BIGINT": "DOUBLE"}
    return {n: (wider.get(t, "VARCHAR") if n in columns else t) for n, t in types.items()}


def _reason(message: str) -> str:
    found = _REASONS.search(message)
    reason = found.group(1).strip() if found else message.strip().splitlines()[0]
    if reason.startswith("Invalid unicode"):
        return NOT_UTF8
    if reason.startswith("Value with unterminated quote"):
        return UNQUOTED
    converting = re.match(
        r'Error when converting column "(.*)"\. Could not convert string "(.*)" to \'(.*)\'', reason
    )
    if converting:
        column, value, kind = converting.groups()
        return (
            f"column {column!r}: {value!r} is not a {kind}, the column's type (inferred from the file's first "
            f"{SAMPLE_ROWS:,} rows)"
        )
    return reason.rstrip(".")


def _text_as_written(table: pa.Table) -> pa.Table:
    """An empty field of a text column is `""` (DuckDB reads NULL), as pyarrow has it; a text column where no
    row has a value stays NULL throughout (pyarrow's null column)."""
    import pyarrow.compute as pc

    for index, column in enumerate(table.columns):
        if pa.types.is_string(column.type) and 0 < column.null_count < len(column):
            table = table.set_column(index, table.field(index), pc.fill_null(column, ""))
    return table
