"""Align a step's output with an existing table: add new columns, widen safely, refuse incompatible changes.

pyiceberg's `union_by_name` raises low-level errors on conflicts; we check first so the message names the column,
both types and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from akko_orchestrator.errors import SchemaConflict


@dataclass(frozen=True)
class Alignment:
    data: pa.Table
    evolve: bool  # the table schema must change (new columns or a type promotion)


def align(table_name: str, table_schema: pa.Schema, data: pa.Table) -> Alignment:
    columns: dict[str, pa.Array] = {}
    evolve = False
    for field in table_schema:
        if field.name not in data.column_names:
            columns[field.name] = pa.nulls(len(data), type=field.type)
            continue
        column = data.column(field.name)
        if column.type == field.type:
            columns[field.name] = column
        elif _plain(column.type) == _plain(field.type) or _castable(column.type, field.type):
            columns[field.name] = column.cast(field.type)
        elif _promotable(field.type, column.type):
            columns[field.name], evolve = column, True
        else:
            raise SchemaConflict(
                f"{table_name}.{field.name} is {field.type} in the table but {column.type} in the new data: "
                "incompatible type change refused. Cast the column in the step, or write to a new table."
            )
    for name in data.column_names:
        if name not in columns:
            columns[name], evolve = data.column(name), True
    return Alignment(pa.table(columns), evolve)


def _plain(dtype: pa.DataType) -> pa.DataType:
    """`dtype` with large variants made regular and list item names dropped, recursively: pyiceberg reads a table's
    schema back as `large_string`, `large_list<element: ...>`, while a step produces `string`, `list<item: ...>`."""
    if pa.types.is_large_string(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype):
        return pa.binary()
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return pa.list_(_plain(dtype.value_type))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _plain(f.type)) for f in dtype])
    if pa.types.is_map(dtype):
        return pa.map_(_plain(dtype.key_type), _plain(dtype.item_type))
    return dtype


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Lossless casts applied to incoming data so it fits the table as it is."""
    if pa.types.is_null(source):
        return True
    if pa.types.is_integer(source) and pa.types.is_integer(target):
        return source.bit_width <= target.bit_width
    if pa.types.is_floating(source) and pa.types.is_floating(target):
        return source.bit_width <= target.bit_width
    if pa.types.is_integer(source) and pa.types.is_floating(target):
        return source.bit_width < target.bit_width
    if pa.types.is_timestamp(source) and pa.types.is_timestamp(target):
        return (source.tz is None) == (target.tz is None)
    if pa.types.is_decimal(source) and pa.types.is_decimal(target):
        return source.scale == target.scale and source.precision <= target.precision
    string_like = (pa.types.is_string, pa.types.is_large_string)
    return any(f(source) for f in string_like) and any(f(target) for f in string_like)


def _promotable(current: pa.DataType, new: pa.DataType) -> bool:
    """Iceberg's allowed type promotions (int -> long, float -> double, decimal precision widening)."""
    if pa.types.is_integer(current) and pa.types.is_integer(new):
        return current.bit_width == 32 and new.bit_width == 64
    if pa.types.is_floating(current) and pa.types.is_floating(new):
        return current.bit_width == 32 and new.bit_width == 64
    if pa.types.is_decimal(current) and pa.types.is_decimal(new):
        return current.scale == new.scale and new.precision > current.precision
    return False
