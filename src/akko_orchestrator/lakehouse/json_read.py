"""JSON files: JSON lines (one object per line) or one array of objects, read by pyarrow (its types: timestamps
inferred from ISO strings, as before) and checked row by row only when pyarrow refuses the file or returns fewer
rows than it has lines: then each line is parsed on its own (Python's json) to name the bad ones: not JSON, not an
object, a field given twice, a field whose kind (number, string, ...) differs from the rows above, not UTF-8.
pyarrow's own messages name a row inside a block of the file, not a line of it."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from akko_orchestrator.lakehouse.file_read import BadRowsError, FileRead, Reject
from akko_orchestrator.lakehouse.text_lines import RECORD_LIMIT, Lines

NOT_UTF8 = "not valid UTF-8; if the file is Latin-1 or Windows-1252, set `encoding: latin-1` (or `cp1252`) on the source"
ARRAY_HINT = "a JSON array cannot be split into rows around a broken one: fix the file"


def read_json(path: str, name: str, quarantine: bool) -> FileRead:
    with open(path, "rb") as handle:
        data = handle.read()
    if not data.strip():
        raise BadRowsError(name, None, "the file is empty", hint=None)
    if data.lstrip()[:1] == b"[":
        return _array(data, name, quarantine)
    return _lines(data, name, quarantine)


def _lines(data: bytes, name: str, quarantine: bool) -> FileRead:
    import pyarrow.json as pajson

    lines = Lines(data)
    try:
        table = pajson.read_json(io.BytesIO(data))
        rows = table.num_rows  # every line, or every non-blank one (pyarrow skips blank lines)
        if (rows == lines.count or rows == lines.nonblank) and _valid_text(table):
            return FileRead(name, table, rows)
    except (pa.ArrowInvalid, ValueError):  # pyarrow raises UnicodeDecodeError for bytes that are not UTF-8
        pass
    rows = _Rows()
    for number in range(1, lines.count + 1):
        rows.add_line(number, lines.raw(number))
    if rows.rejects and not quarantine:
        first = rows.rejects[0]
        raise BadRowsError(name, first.line, first.error)
    good = b"\n".join(lines.raw(n) for n in rows.good)
    try:
        table = pajson.read_json(io.BytesIO(good)) if good else pa.table({})
    except (pa.ArrowInvalid, ValueError) as exc:
        raise BadRowsError(name, None, f"not readable as JSON lines: {exc}") from None
    return FileRead(name, table, rows.records, rows.rejects, _aside(name, rows.rejects))


def _array(data: bytes, name: str, quarantine: bool) -> FileRead:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise BadRowsError(name, data[: exc.start].count(b"\n") + 1, NOT_UTF8, hint=ARRAY_HINT) from None
    except json.JSONDecodeError as exc:
        raise BadRowsError(
            name, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})", hint=ARRAY_HINT
        ) from None
    except ValueError as exc:
        raise BadRowsError(name, None, str(exc), hint=ARRAY_HINT) from None
    if not isinstance(value, list) or not value:
        raise BadRowsError(name, None, "expected a non-empty array of JSON objects", hint=None)
    rows = _Rows()
    for index, element in enumerate(value):
        rows.add(None, element, f"element {index}: ")
    if rows.rejects and not quarantine:
        raise BadRowsError(name, None, rows.rejects[0].error)
    try:
        table = pa.Table.from_pylist([value[i] for i in rows.good]) if rows.good else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise BadRowsError(name, None, f"the objects do not make one table: {exc}") from None
    return FileRead(name, table, rows.records, rows.rejects, _aside(name, rows.rejects))


@dataclass
class _Rows:
    """Rows judged one by one: the good ones (line numbers, or element indexes), the rejects, and the kind of
    each field's first value (a later row where it is of another kind is the bad one)."""

    records: int = 0
    good: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    kinds: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # field -> (kind, where it was first seen)

    def add_line(self, number: int, raw: bytes) -> None:
        if not raw.strip():
            return
        text = raw.decode("utf-8", errors="backslashreplace")[:RECORD_LIMIT]
        try:
            value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except UnicodeDecodeError:
            self._reject(number, NOT_UTF8, text)
        except json.JSONDecodeError as exc:
            self._reject(number, f"not valid JSON: {exc.msg} (column {exc.colno})", text)
        except ValueError as exc:
            self._reject(number, str(exc), text)
        else:
            self.add(number, value, "", text)

    def add(self, line: int | None, value: Any, prefix: str, text: str | None = None) -> None:
        position = line if line is not None else self.records
        text = text if text is not None else json.dumps(value, ensure_ascii=False)[:RECORD_LIMIT]
        if not isinstance(value, dict):
            self._reject(line, f"{prefix}a JSON {_kind(value)} where an object is expected", text)
            return
        conflict = self._conflict(value, "line" if line is not None else "element", position)
        if conflict is not None:
            self._reject(line, prefix + conflict, text)
            return
        self.records += 1
        self.good.append(position)

    def _conflict(self, value: dict[str, Any], what: str, position: int) -> str | None:
        for key, item in value.items():
            if item is None:
                continue
            kind, (first, where) = _kind(item), self.kinds.get(key, (None, ""))
            if first is not None and kind != first:
                return f"field {key!r} is a {kind} here, a {first} on {where}"
        for key, item in value.items():
            if item is not None:
                self.kinds.setdefault(key, (_kind(item), f"{what} {position}"))
        return None

    def _reject(self, line: int | None, error: str, text: str) -> None:
        self.records += 1
        self.rejects.append(Reject(line, error, text))


def _valid_text(table: pa.Table) -> bool:
    """Every string is UTF-8 (pyarrow's JSON reader passes some bytes that are not through as text)."""
    try:
        table.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), type(value).__name__)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"field {key!r} is given twice in one object")
        seen.add(key)
    return dict(pairs)


def _aside(name: str, rejects: list[Reject]) -> list[str]:
    utf8 = sum(1 for r in rejects if r.error == NOT_UTF8)
    return [f"{name}: {utf8} row(s) are not valid UTF-8 and were set aside"] if utf8 else []
