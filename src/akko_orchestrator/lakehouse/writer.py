"""Write a step's Arrow result to an Iceberg table in exactly one atomic commit.

Creation, schema evolution and the data change share one pyiceberg transaction: if anything fails (or the process
is killed) before the commit, the catalog still points at the previous metadata and readers see the table as it
was. Data files written before a failed commit are unreferenced (invisible) and left for table maintenance.

With `branch` (write-audit-publish), the same commit cuts the audit branch from `main`'s head and writes the new
snapshot to the branch only; `main` does not move (lakehouse/wap.py publishes it). A new table is created with an
empty snapshot on `main` first (pyiceberg writes branches only of a table that has one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    snapshot_id: int | None  # the snapshot written (on `branch` until published)
    created: bool
    branch: str | None = None  # the audit branch written, None: main
    base_snapshot_id: int | None = None  # main's head the audit branch was cut from
    checks: dict[str, Any] | None = None  # the check report's summary, once published
    already_published: bool = False  # an earlier try of this run published: nothing was written
    ingest: dict[str, Any] | None = (
        None  # a file ingest's rows read, written and set aside (runtime/ingest_files.py)
    )


def write_table(
    catalog: Catalog,
    output: Output,
    data: pa.Table,
    properties: dict[str, str] | None = None,
    branch: str | None = None,
) -> WriteResult:
    from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

    data = normalize(data)
    props = properties or {}
    namespace, _ = split_table(output.table)
    catalog.create_namespace_if_not_exists(namespace)
    created = False
    try:
        table = catalog.load_table(output.table)
    except NoSuchTableError:
        if branch is None:
            return _create(catalog, output, data, props)
        try:
            _create(catalog, output, data, props, empty=True)
            created = True
        except TableAlreadyExistsError:  # another writer created it first: write on top of it
            pass
        table = catalog.load_table(output.table)
    aligned = align(output.table, table.schema().as_arrow(), data)
    tx = table.transaction()
    if aligned.evolve:
        with tx.update_schema() as update:
            update.union_by_name(aligned.data.schema)
    base = None
    if branch is not None:
        from akko_orchestrator.lakehouse.wap import cut_branch, ensure_main_snapshot

        ensure_main_snapshot(tx, props)  # a table left empty (no snapshot) by an earlier, killed try
        base = cut_branch(tx, branch)
    _apply_mode(tx, output, aligned.data, props, evolved=aligned.evolve, branch=branch)
    try:
        committed = tx.commit_transaction()
    except ValueError as exc:
        # A branch commit asserts only its own ref: if another writer committed to the table meanwhile, pyiceberg's
        # SQL catalog refuses the stale sequence number with a ValueError, not a CommitFailedException (no retry).
        if branch is None or "sequence number" not in str(exc):
            raise
        from akko_orchestrator.lakehouse.wap import MainMoved

        raise MainMoved(output.table, branch, ["a concurrent commit to the table"]) from None
    if branch is None:
        return _result(output, aligned.data, committed, created=False)
    head = committed.snapshot_by_name(branch)
    return WriteResult(
        output.table,
        output.mode,
        aligned.data.num_rows,
        head.snapshot_id if head else None,
        created,
        branch,
        base,
    )


def create_empty(catalog: Catalog, output: Output, schema: pa.Schema, props: dict[str, str]) -> WriteResult:
    """Create `output.table` with `schema` and its partitioning, and an empty snapshot on `main` (no run id: never
    taken for a publish), for a writer that commits its data afterwards (write-audit-publish, staged files)."""
    namespace, _ = split_table(output.table)
    catalog.create_namespace_if_not_exists(namespace)
    return _create(catalog, output, normalize(schema.empty_table()), props, empty=True)


def _create(
    catalog: Catalog, output: Output, data: pa.Table, props: dict[str, str], empty: bool = False
) -> WriteResult:
    tx = catalog.create_table_transaction(output.table, schema=data.schema)
    if output.partition_by:
        _check_partition_columns(output, data)
        with tx.update_spec() as spec:
            for field in output.partition_by:
                _add_partition_field(spec, field)
    if empty:
        from akko_orchestrator.lakehouse.wap import ensure_main_snapshot

        ensure_main_snapshot(tx, props)
    else:
        tx.append(data, snapshot_properties=props)
    table = tx.commit_transaction()
    return _result(output, data, table, created=True)


def _apply_mode(
    tx: Transaction,
    output: Output,
    data: pa.Table,
    props: dict[str, str],
    evolved: bool = False,
    branch: str | None = None,
) -> None:
    from pyiceberg.table.refs import MAIN_BRANCH

    ref = branch or MAIN_BRANCH
    if output.mode == "append":
        tx.append(data, snapshot_properties=props, branch=ref)
    elif output.mode == "overwrite":
        tx.overwrite(data, snapshot_properties=props, branch=ref)
    elif evolved:
        # pyiceberg 0.12's upsert reads the matched rows with the pre-evolution schema and fails
        # (apache/iceberg-python#2467, #3105): replace every row whose key is in `data` instead.
        from pyiceberg.table.upsert_util import create_match_filter

        _check_unique_keys(output, data)
        tx.overwrite(
            data,
            overwrite_filter=create_match_filter(data, list(output.keys)),
            snapshot_properties=props,
            branch=ref,
        )
    else:
        _check_unique_keys(output, data)
        tx.upsert(data, join_cols=list(output.keys), snapshot_properties=props, branch=ref)


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
