"""Write a step's Arrow result to an Iceberg table in exactly one atomic commit.

Creation, schema evolution and the data change share one pyiceberg transaction: if anything fails (or the process
is killed) before the commit, the catalog still points at the previous metadata and readers see the table as it
was. Data files written before a failed commit are unreferenced (invisible) and left for table maintenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.arrow_io import normalize
from akko_orchestrator.lakehouse.catalog import split_table
from akko_orchestrator.lakehouse.schema_evolution import align
from akko_orchestrator.spec.models import Output

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Transaction

_TRANSFORM = re.compile(r"^(year|month|day|hour)\((\w+)\)$|^(bucket|truncate)\((\d+),\s*(\w+)\)$")


@dataclass(frozen=True)
class WriteResult:
    table: str
    mode: str
    rows: int
    snapshot_id: int | None
    created: bool


def write_table(
    catalog: Catalog, output: Output, data: pa.Table, properties: dict[str, str] | None = None
) -> WriteResult:
    from pyiceberg.exceptions import NoSuchTableError

    data = normalize(data)
    props = properties or {}
    namespace, _ = split_table(output.table)
    catalog.create_namespace_if_not_exists(namespace)
    try:
        table = catalog.load_table(output.table)
    except NoSuchTableError:
        return _create(catalog, output, data, props)
    aligned = align(output.table, table.schema().as_arrow(), data)
    tx = table.transaction()
    if aligned.evolve:
        with tx.update_schema() as update:
            update.union_by_name(aligned.data.schema)
    _apply_mode(tx, output, aligned.data, props, evolved=aligned.evolve)
    committed = tx.commit_transaction()
    return _result(output, aligned.data, committed, created=False)


def _create(catalog: Catalog, output: Output, data: pa.Table, props: dict[str, str]) -> WriteResult:
    tx = catalog.create_table_transaction(output.table, schema=data.schema)
    if output.partition_by:
        _check_partition_columns(output, data)
        with tx.update_spec() as spec:
            for field in output.partition_by:
                _add_partition_field(spec, field)
    tx.append(data, snapshot_properties=props)
    table = tx.commit_transaction()
    return _result(output, data, table, created=True)


def _apply_mode(
    tx: Transaction, output: Output, data: pa.Table, props: dict[str, str], evolved: bool = False
) -> None:
    if output.mode == "append":
        tx.append(data, snapshot_properties=props)
    elif output.mode == "overwrite":
        tx.overwrite(data, snapshot_properties=props)
    elif evolved:
        # pyiceberg 0.12's upsert reads the matched rows with the pre-evolution schema and fails
        # (apache/iceberg-python#2467, #3105): replace every row whose key is in `data` instead.
        from pyiceberg.table.upsert_util import create_match_filter

        _check_unique_keys(output, data)
        tx.overwrite(
            data, overwrite_filter=create_match_filter(data, list(output.keys)), snapshot_properties=props
        )
    else:
        _check_unique_keys(output, data)
        tx.upsert(data, join_cols=list(output.keys), snapshot_properties=props)


def _check_unique_keys(output: Output, data: pa.Table) -> None:
    missing = [k for k in output.keys if k not in data.column_names]
    if missing:
        raise AkkoError(f"merge into {output.table}: key column(s) {missing} missing from the step's result")
    if data.num_rows and data.group_by(list(output.keys)).aggregate([]).num_rows != data.num_rows:
        raise AkkoError(
            f"merge into {output.table}: the step's result has duplicate keys {list(output.keys)}"
        )


def _check_partition_columns(output: Output, data: pa.Table) -> None:
    for field in output.partition_by:
        match = _TRANSFORM.match(field)
        column = (match.group(2) or match.group(5)) if match else field
        if column not in data.column_names:
            raise AkkoError(f"partition column '{column}' of {output.table} is not in the step's result")


def _add_partition_field(spec, field: str) -> None:  # spec: pyiceberg UpdateSpec
    from pyiceberg.transforms import (
        BucketTransform,
        DayTransform,
        HourTransform,
        MonthTransform,
        TruncateTransform,
        YearTransform,
    )

    match = _TRANSFORM.match(field)
    if match is None:
        spec.add_identity(field)
    elif match.group(1):
        transform = {
            "year": YearTransform,
            "month": MonthTransform,
            "day": DayTransform,
            "hour": HourTransform,
        }
        column = match.group(2)
        spec.add_field(column, transform[match.group(1)](), f"{column}_{match.group(1)}")
    else:
        kind, width, column = match.group(3), int(match.group(4)), match.group(5)
        transform = BucketTransform(width) if kind == "bucket" else TruncateTransform(width)
        spec.add_field(column, transform, f"{column}_{kind}")


def _result(output: Output, data: pa.Table, table, created: bool) -> WriteResult:
    snapshot = table.current_snapshot()
    return WriteResult(
        output.table, output.mode, data.num_rows, snapshot.snapshot_id if snapshot else None, created
    )
