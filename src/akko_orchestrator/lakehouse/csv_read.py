"""CSV files read with DuckDB's CSV reader in strict mode, with pyarrow's types.

Why DuckDB and not pyarrow's reader: on a 2.6 million row file with one unterminated quote, pyarrow returned
2,581,290 rows and no error (its block parser resynchronises on the next line break it trusts). DuckDB's strict mode
refuses the file naming the line and the reason (unterminated quote, wrong number of fields, a value that is not
of the column's type, bytes that are not UTF-8), and its rejects tables list each bad row for quarantine. It is
also faster on a file path (1.1 s against pyarrow's 1.7 s for that file, two cores).

Types are kept as pyarrow inferred them (tests/unit expectations): a column's type is sniffed by DuckDB on the
first 20,480 rows (as both readers do), with the rows that do not parse left out of the sample so that one bad row
near the top never stops the sniffer; dates and timestamps only in ISO 8601 (pyarrow's rule: `01/02/2026` stays
text rather than become the 1st of February); an empty field is NULL except in text columns, where it is `""`, and
a column with no value at all is NULL. Then the whole file is read with those types and no sniffing.

Each read has its own in-memory DuckDB that may open only the files it reads (`allowed_paths`), with external
access off and the configuration locked: the reader can reach nothing else, whatever a file holds.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from akko_orchestrator.lakehouse.file_read import BadRowsError, FileRead, Reject
from akko_orchestrator.lakehouse.text_lines import Lines, csv_record_lines

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
    if lines.nonblank == 0:
        raise BadRowsError(name, None, "the file has no header line", hint=None)
    return _CsvFile(path, name, lines, quarantine).read()


class _CsvFile:
    def __init__(self, path: str, name: str, lines: Lines, quarantine: bool) -> None:
        self.path, self.name, self.lines, self.quarantine = path, name, lines, quarantine
        self.header_line = lines.leading_blank + 1
        self.folder = ""

    def read(self) -> FileRead:
        names = self._header()
        with tempfile.TemporaryDirectory(prefix="akko-csv-") as self.folder:
            types = self._types(names)
            table, rejects, warnings = self._read_all(types)
        table = _text_as_written(table)
        records = self.lines.nonblank - 1 - _continuation_lines(table)
        return FileRead(self.name, table, records, rejects, warnings)

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

        sample = self._sample()
        try:
            with _locked(sample) as con:
                text = _strict(dict.fromkeys(names, "VARCHAR"), self.lines)
                good = con.read_csv(sample, **text, store_rejects=True).to_arrow_table()
        except duckdb.Error:  # the full read names the problem
            return dict.fromkeys(names, "VARCHAR")
        clean = os.path.join(self.folder, "clean.csv")
        import pyarrow.csv as pacsv

        pacsv.write_csv(good, clean)
        with _locked(clean) as con:
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

        options = _strict(types, self.lines)
        try:
            with _locked(self.path) as con:
                table = con.read_csv(self.path, **options, store_rejects=self.quarantine).to_arrow_table()
                return table, self._rejects(con), []
        except duckdb.Error as exc:
            line, reason = self._located(exc)
        if self.quarantine and reason == NOT_UTF8:
            return self._without_bad_utf8(options)
        if self.quarantine or reason.startswith(UNSPLITTABLE_REASONS):
            raise BadRowsError(self.name, line, f"{reason}; this row cannot be set aside", hint=UNSPLIT_HINT)
        raise BadRowsError(self.name, line, reason)

    def _without_bad_utf8(self, options: dict[str, Any]) -> tuple[pa.Table, list[Reject], list[str]]:
        """Quarantine of lines that are not UTF-8 (DuckDB cannot set them aside itself): a copy of the file with
        them blanked (line numbers unchanged), read again."""
        import duckdb

        bad = [n for n in range(1, self.lines.count + 1) if not _is_utf8(self.lines.raw(n))]
        blanked = os.path.join(self.folder, "utf8.csv")
        with open(blanked, "wb") as handle:
            previous = 0
            for number in bad:
                handle.write(self.lines.data[previous : int(self.lines.starts[number - 1])])
                previous = int(self.lines.ends[number - 1])
            handle.write(self.lines.data[previous:])
        try:
            with _locked(blanked) as con:
                table = con.read_csv(blanked, **options, store_rejects=True).to_arrow_table()
                rejects = self._rejects(con)
        except duckdb.Error as exc:
            line, reason = self._located(exc)
            reason = f"{reason}; this row cannot be set aside"
            raise BadRowsError(self.name, line, reason, hint=UNSPLIT_HINT) from None
        own = [Reject(n, NOT_UTF8, self.lines.text(n)) for n in bad]
        warning = f"{self.name}: {len(bad)} row(s) are not valid UTF-8 and were set aside"
        return table, sorted([*own, *rejects], key=lambda r: r.line or 0), [warning]

    def _rejects(self, con: duckdb.DuckDBPyConnection) -> list[Reject]:
        if not self.quarantine:
            return []
        errors = con.table("reject_errors").to_arrow_table().to_pylist()
        first: dict[int, dict[str, Any]] = {}
        for error in errors:
            first.setdefault(int(error["line"]), error)
        unsplittable = [e for e in first.values() if e["error_type"] in UNSPLITTABLE]
        physical = self._physical(list(first))
        if unsplittable:
            line = physical[int(unsplittable[0]["line"])]
            reason = f"{_reason(unsplittable[0]['error_message'])}; this row cannot be set aside"
            raise BadRowsError(self.name, line, reason, hint=UNSPLIT_HINT)
        return [
            Reject(physical[n], _reason(e["error_message"]), self.lines.text(physical[n]), e["column_name"])
            for n, e in sorted(first.items())
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
        if not self.lines.has(b'"'):
            return {n: n for n in numbers}
        return csv_record_lines(self.path, numbers)


def _strict(types: dict[str, str], lines: Lines) -> dict[str, Any]:
    """The full read: pyarrow's dialect, these types, nothing sniffed, strict about every row."""
    options: dict[str, Any] = {**DIALECT, "columns": types, "auto_detect": False, "strict_mode": True}
    return {**options, "skiprows": lines.leading_blank}


class _locked:  # noqa: N801 - used as a context manager, like open()
    """An in-memory DuckDB that can open only `paths`: external access off, configuration locked (the same
    lock-down as engines/duckdb/sandbox.py, for files instead of folders), and no progress bar on the terminal."""

    def __init__(self, *paths: str) -> None:
        self.paths = [os.path.realpath(p) for p in paths]
        self.stack = ExitStack()

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        con = self.stack.enter_context(duckdb.connect(config=config))
        settings = (
            ("enable_progress_bar", False),
            ("allowed_paths", self.paths),
            ("enable_external_access", False),
            ("lock_configuration", True),  # last: it freezes the others
        )
        for name, value in settings:
            con.execute(_setting(name, value))
        return con

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


def _setting(name: str, value: bool | list[str]) -> str:
    """`SET name = value` as a sqlglot tree (a parameter would do, but DuckDB imports pandas to bind a list)."""
    from sqlglot import exp

    from akko_orchestrator.sql.build import render

    if isinstance(value, bool):
        node: exp.Expression = exp.Boolean(this=value)
    else:
        node = exp.Array(expressions=[exp.Literal.string(v) for v in value])
    item = exp.SetItem(this=exp.EQ(this=exp.var(name), expression=node))
    return render(exp.Set(expressions=[item]), "duckdb")


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


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text_as_written(table: pa.Table) -> pa.Table:
    """An empty field of a text column is `""` (DuckDB reads NULL), as pyarrow has it; a text column where no
    row has a value stays NULL throughout (pyarrow's null column)."""
    import pyarrow.compute as pc

    for index, column in enumerate(table.columns):
        if pa.types.is_string(column.type) and 0 < column.null_count < len(column):
            table = table.set_column(index, table.field(index), pc.fill_null(column, ""))
    return table


def _continuation_lines(table: pa.Table) -> int:
    """Non-blank lines that continue a quoted value begun on an earlier line (a value `a\\n\\nb` spans three
    lines, the middle one blank): they are not rows."""
    import pyarrow.compute as pc

    count = 0
    for column in table.columns:
        if not pa.types.is_string(column.type) or not (pc.sum(pc.count_substring(column, "\n")).as_py() or 0):
            continue
        for value in pc.filter(column, pc.match_substring(column, "\n")).to_pylist():
            segments = value.split("\n")
            count += len(segments) - 1 - sum(1 for s in segments[1:-1] if s in ("", "\r"))
    return count
