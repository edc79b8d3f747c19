"""Trino's result types as Arrow: a DB-API result of the Trino client (`cursor.description` with Trino's type
names, rows of Python values) becomes an Arrow table with the types the DuckDB engine would give the same query,
so pyiceberg writes the same table schema on every profile. Apart from the engine because dbt seeds (dbt/seeds.py)
map Trino types the same way, without a Trino connection.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class ColumnType:
    """A Trino type as Arrow, and how to turn the client's Python value into a value of that Arrow type."""

    arrow: pa.DataType
    convert: Convert | None = None  # None: the client's value is already right


_SIMPLE: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double": pa.float64(),
    "varchar": pa.string(),
    "char": pa.string(),
    "json": pa.string(),
    "varbinary": pa.binary(),
    "date": pa.date32(),
}
_NESTED = ("array(", "map(", "row(")
# Parameterized and multi-word types, by their lower-case name in a result's description.
_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], ColumnType]]] = [
    (re.compile(r"(var)?char\(\d+\)"), lambda m: ColumnType(pa.string())),
    (re.compile(r"decimal\((\d+),\s*(\d+)\)"), lambda m: ColumnType(pa.decimal128(int(m[1]), int(m[2])))),
    (re.compile(r"timestamp(\(\d+\))?"), lambda m: ColumnType(pa.timestamp("us"))),
    (
        re.compile(r"timestamp(\(\d+\))? with time zone"),
        lambda m: ColumnType(pa.timestamp("us", tz="UTC"), _to_utc),
    ),
    (re.compile(r"time(\(\d+\))?"), lambda m: ColumnType(pa.time64("us"))),
    # like DuckDB's TIMETZ: the local time of day
    (re.compile(r"time(\(\d+\))? with time zone"), lambda m: ColumnType(pa.time64("us"), _without_zone)),
    (
        re.compile(r"interval day to second"),
        lambda m: ColumnType(pa.month_day_nano_interval(), _day_to_second),
    ),
    (
        re.compile(r"interval year to month"),
        lambda m: ColumnType(pa.month_day_nano_interval(), _year_to_month),
    ),
    (re.compile(r"uuid"), lambda m: ColumnType(pa.string(), str)),  # a string in DuckDB's results too
    (re.compile(r"unknown"), lambda m: ColumnType(pa.null())),  # the type of a bare NULL
]


def arrow_type(trino_type: str) -> ColumnType:
    """Arrow for a Trino type as Trino names it in a result's description (`cursor.description[i][1]`).

    The same Arrow types as DuckDB's results where both engines have the type (uuid is a string, json a string,
    timestamps microseconds, with time zone in UTC, intervals month-day-nano); types Arrow and Iceberg do not have
    (ipaddress, sketches, geometry...) become their text."""
    text = trino_type.strip()
    lower = text.lower()
    for prefix, build in zip(_NESTED, (_array, _map, _row), strict=True):
        if lower.startswith(prefix) and lower.endswith(")"):
            return build(text[len(prefix) : -1])
    if lower in _SIMPLE:
        return ColumnType(_SIMPLE[lower])
    for pattern, build_type in _PATTERNS:
        if match := pattern.fullmatch(lower):
            return build_type(match)
    return ColumnType(pa.string(), _text)


def _array(inner: str) -> ColumnType:
    element = arrow_type(inner)
    convert = element.convert
    return ColumnType(pa.list_(element.arrow), (lambda v: [convert(x) for x in v]) if convert else None)


def _map(inner: str) -> ColumnType:
    key_text, value_text = split_top_level(inner)
    key, value = arrow_type(key_text), arrow_type(value_text)
    convert_key = key.convert or _same
    convert_value = value.convert or _same
    return ColumnType(
        pa.map_(key.arrow, value.arrow), lambda v: [(convert_key(k), convert_value(x)) for k, x in v.items()]
    )


def _row(inner: str) -> ColumnType:
    names, types = [], []
    for index, part in enumerate(split_top_level(inner)):
        name, field_type = _row_field(part)
        names.append(name if name is not None else f"_col{index}")  # Trino's name for unnamed columns
        types.append(arrow_type(field_type))
    converters = [t.convert or _same for t in types]

    def convert(value: Any) -> dict[str, Any]:
        return {n: c(x) for n, c, x in zip(names, converters, value, strict=True)}

    struct = pa.struct([pa.field(n, t.arrow) for n, t in zip(names, types, strict=True)])
    return ColumnType(struct, convert)


def _row_field(text: str) -> tuple[str | None, str]:
    """`"a b" bigint`, `a bigint`, or an unnamed field's type (`bigint`, `timestamp(3) with time zone`)."""
    text = text.strip()
    if text.startswith('"'):
        end = 1
        while True:
            end = text.index('"', end)
            if text[end : end + 2] == '""':
                end += 2
                continue
            return text[1:end].replace('""', '"'), text[end + 1 :].strip()
    name, _, rest = text.partition(" ")
    if rest and "(" not in name and not _is_type(text):
        return name, rest.strip()
    return None, text


def _is_type(text: str) -> bool:
    """True when `text` as a whole is a Trino type name (so an unnamed row field, not `name type`)."""
    lower = text.lower()
    return (
        lower in _SIMPLE
        or any(pattern.fullmatch(lower) for pattern, _ in _PATTERNS)
        or (lower.startswith(_NESTED) and lower.endswith(")"))
    )


def split_top_level(text: str) -> list[str]:
    """Split a type's arguments on the commas outside parentheses and double quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _same(value: Any) -> Any:
    return value


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _without_zone(value: dt.time) -> dt.time:
    return value.replace(tzinfo=None)


def _day_to_second(value: dt.timedelta) -> pa.MonthDayNano:
    micros = value // dt.timedelta(microseconds=1)
    days, rest = divmod(abs(micros), 86_400_000_000)
    sign = -1 if micros < 0 else 1
    return pa.MonthDayNano([0, sign * days, sign * rest * 1000])


def _year_to_month(value: Any) -> pa.MonthDayNano:  # dateutil's relativedelta
    return pa.MonthDayNano([value.years * 12 + value.months, 0, 0])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _with_nulls(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def to_arrow(description: list[Any], rows: Iterator[list[Any]]) -> pa.Table:
    """A DB-API result (`description` with Trino type names, rows in batches) as one Arrow table."""
    names = [column[0] for column in description]
    types = [arrow_type(str(column[1])) for column in description]
    schema = pa.schema([pa.field(n, t.arrow) for n, t in zip(names, types, strict=True)])
    converters = [_with_nulls(t.convert) if t.convert else None for t in types]
    batches = []
    for batch in rows:
        columns = []
        for index, (column_type, convert) in enumerate(zip(types, converters, strict=True)):
            values = [row[index] for row in batch]
            if convert is not None:
                values = [convert(v) for v in values]
            columns.append(pa.array(values, type=column_type.arrow))
        batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)
