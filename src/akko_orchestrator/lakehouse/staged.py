"""Commit data files another engine wrote (Trino, into a stage table) to a table: one pyiceberg transaction that
adds the files (and for an overwrite deletes what was there), with the run identity in the snapshot, on `main` or
on an audit branch cut from it in that same commit, exactly like `lakehouse/writer.py` commits Arrow data.

The files keep their place (under the target table's location, where the stage table was made): nothing is
copied and no data passes through this process. Their field ids are the target's: the stage table was created
with the target's schema, evolved the same way the commit evolves the target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from akko_orchestrator.lakehouse.schema_evolution import align
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.spec.models import Output

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def commit_files(
    catalog: Catalog,
    output: Output,
    files: list[str],
    rows: int,
    schema: pa.Schema,
    properties: dict[str, str],
    branch: str | None = None,
) -> WriteResult:
    """`files` (holding `rows` rows of `schema`) to `output.table`: appended, or replacing its rows (overwrite)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.table.refs import MAIN_BRANCH

    table = catalog.load_table(output.table)
    aligned = align(output.table, table.schema().as_arrow(), schema.empty_table())
    tx = table.transaction()
    if aligned.evolve:
        with tx.update_schema() as update:
            update.union_by_name(aligned.data.schema)
    base = None
    if branch is not None:
        from akko_orchestrator.lakehouse.wap import cut_branch, ensure_main_snapshot

        ensure_main_snapshot(tx, properties)
        base = cut_branch(tx, branch)
    ref = branch or MAIN_BRANCH
    if output.mode == "overwrite" and table.current_snapshot() is not None:
        tx.delete(AlwaysTrue(), snapshot_properties=properties, branch=ref)
    if files:
        # Fresh files of this write's stage: no other snapshot can reference them.
        tx.add_files(files, snapshot_properties=properties, check_duplicate_files=False, branch=ref)
    committed = tx.commit_transaction()
    head = committed.snapshot_by_name(branch) if branch else committed.current_snapshot()
    return WriteResult(
        output.table, output.mode, rows, head.snapshot_id if head else None, False, branch, base
    )
