"""Arrow helpers: records and Python step results into Arrow, types normalized to what Iceberg stores (files are
read by lakehouse/file_read.py)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from akko_orchestrator.errors import AkkoError


def records_to_arrow(records: Any, name: str) -> pa.Table:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise AkkoError(f"{name}: expected a list of JSON objects, got {type(records).__name__}")
    if not records:
        raise AkkoError(f"{name}: no records")
    return pa.Table.from_pylist(records)


def to_arrow(value: Any, what: str) -> pa.Table:
    """Accept what a Python step may return: an Arrow table, a pandas/polars frame, or a list of dicts."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if hasattr(value, "to_arrow"):
        return value.to_arrow()
    if type(value).__module__.startswith("pandas"):
        return pa.Table.from_pandas(value, preserve_index=False)
    if isinstance(value, list):
        return records_to_arrow(value, what)
    raise AkkoError(
        f"{what} returned {type(value).__name__}; return a pyarrow.Table, a DataFrame or a list of dicts"
    )


def normalize(table: pa.Table) -> pa.Table:
    """Cast types Iceberg cannot store as-is: unsigned ints, ns/s timestamps and times, dictionaries, all-null
    columns."""
    fields = [pa.field(f.name, _iceberg_friendly(f.type), nullable=True) for f in table.schema]
    target = pa.schema(fields)
    return table if target == table.schema else table.cast(target)


def _iceberg_friendly(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(dtype):
        return _iceberg_friendly(dtype.value_type)
    if pa.types.is_unsigned_integer(dtype) or (pa.types.is_integer(dtype) and dtype.bit_width < 32):
        return pa.int64() if dtype.bit_width >= 32 else pa.int32()
    if pa.types.is_timestamp(dtype) and dtype.unit != "us":
        return pa.timestamp("us", tz="UTC" if dtype.tz else None)
    if pa.types.is_timestamp(dtype) and dtype.tz not in (None, "UTC", "+00:00"):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_time(dtype) and dtype != pa.time64("us"):
        return pa.time64("us")  # Iceberg's time: microseconds (pyarrow's CSV reader infers seconds)
    if pa.types.is_null(dtype):
        return pa.string()
    if pa.types.is_large_string(dtype):
        return pa.string()
    if pa.types.is_float16(dtype):
        return pa.float32()
    return dtype


def keep_last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """For merges of several files: the last row of each key wins (files are processed in name order). Grouped
    on a table of its own (`k0`, `k1`, ..., `row`), so no column of the data, whatever its name, is shadowed."""
    import pyarrow.compute as pc

    positions = {f"k{i}": table.column(key) for i, key in enumerate(keys)}
    grouped = pa.table({**positions, "row": pa.array(range(table.num_rows), pa.int64())})
    last = grouped.group_by(list(positions), use_threads=False).aggregate([("row", "max")])
    rows = last.column("row_max")
    return table.take(rows.take(pc.sort_indices(rows)))
