"""What a snapshot's Iceberg metadata already says about its data: row count, NULL counts, exact min/max.

Every data file of an Iceberg snapshot carries its record count and, per column, NULL counts and lower/upper
bounds (pyiceberg, Spark and Trino all write them). Summed over the snapshot's files, they answer some checks
without reading a row: `row_count` always, `not_null` and `freshness` when every file has the statistic, `range`
when the bounds lie inside the rule (a bound outside needs the scan to count the failing rows). Scanning data to
learn what the manifests state is what check-per-query tools do; reading manifests costs milliseconds.

Bounds are used only where Iceberg keeps them exact: numbers, dates, timestamps (string bounds are truncated).
A snapshot with delete files is never answered from metadata (its files' counts include deleted rows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ColumnStats:
    nulls: int | None  # None: some file does not record it
    lower: Any = None  # exact smallest non-NULL value (None: unknown, or no value)
    upper: Any = None


@dataclass(frozen=True)
class SnapshotStats:
    rows: int
    columns: dict[str, ColumnStats] = field(default_factory=dict)


def snapshot_stats(catalog: Catalog, table_name: str, snapshot_id: int | None) -> SnapshotStats | None:
    """The statistics of `snapshot_id` (None: main's head), or None when they cannot be trusted (delete files)."""
    from pyiceberg.conversions import from_bytes
    from pyiceberg.types import (
        DateType,
        DecimalType,
        DoubleType,
        FloatType,
        IntegerType,
        LongType,
        TimestampType,
        TimestamptzType,
    )

    exact_bounds = (
        DateType,
        DecimalType,
        DoubleType,
        FloatType,
        IntegerType,
        LongType,
        TimestampType,
        TimestamptzType,
    )
    table = catalog.load_table(table_name)
    snapshot = (
        table.metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
    )
    if snapshot is None:
        return None
    schema = (
        table.metadata.schema_by_id(snapshot.schema_id) if snapshot.schema_id is not None else table.schema()
    )
    schema = schema or table.schema()
    files = []
    for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
        if task.delete_files:
            return None
        files.append(task.file)
    columns = {}
    for column in schema.fields:
        nulls = [f.null_value_counts.get(column.field_id) if f.null_value_counts else None for f in files]
        lower = upper = None
        if isinstance(column.field_type, exact_bounds):
            lows = [f.lower_bounds.get(column.field_id) if f.lower_bounds else None for f in files]
            highs = [f.upper_bounds.get(column.field_id) if f.upper_bounds else None for f in files]
            # a file with only NULLs has no bounds: fine when its NULL count says so
            complete = all(
                lo is not None or (n is not None and n == f.record_count)
                for lo, n, f in zip(lows, nulls, files, strict=True)
            )
            if complete and any(lo is not None for lo in lows):
                lower = min(_value(column.field_type, from_bytes(column.field_type, b)) for b in lows if b)
                upper = max(_value(column.field_type, from_bytes(column.field_type, b)) for b in highs if b)
        known = all(n is not None for n in nulls)
        columns[column.name] = ColumnStats(sum(nulls) if known else None, lower, upper)  # type: ignore[arg-type]
    return SnapshotStats(sum(f.record_count for f in files), columns)


def _value(field_type: Any, raw: Any) -> Any:
    """Iceberg's physical value as the Python value an engine returns (dates and timestamps)."""
    from pyiceberg.types import DateType, TimestampType, TimestamptzType

    if isinstance(field_type, DateType):
        return dt.date(1970, 1, 1) + dt.timedelta(days=raw)
    if isinstance(field_type, TimestamptzType):
        return EPOCH + dt.timedelta(microseconds=raw)
    if isinstance(field_type, TimestampType):
        return (EPOCH + dt.timedelta(microseconds=raw)).replace(tzinfo=None)
    return raw
