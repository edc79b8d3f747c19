"""`akko tables` and `akko query` output: the lakehouse's tables (files, size, last maintenance), one table's
schema, snapshots and branches, query results; as renderables for the terminal and as plain data for --json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.filesize import decimal as file_size

from akko_orchestrator.cli.render import Col, records, rows_listing

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from akko_orchestrator.lakehouse.inspect import BranchInfo, SnapshotInfo, TableInfo

TABLE_COLS = (
    Col("table", key=True),
    Col("rows", head=True, right=True, unit="rows"),
    Col("files", head=True, right=True, unit="files"),
    Col("size", head=True, right=True),
    Col("snapshots", right=True),
    Col("partitioning", wrap=True),
    Col("updated"),
    Col("last maintenance"),
    Col("maintenance", wrap=True),
    Col("audit branches"),
)
SNAPSHOT_COLS = (
    Col("snapshot", key=True),
    Col("committed", head=True),
    Col("operation", head=True),
    Col("added", right=True),
    Col("total", right=True),
    Col("written by"),
    Col("head of"),
)
BRANCH_COLS = (
    Col("ref", key=True),
    Col("type", head=True),
    Col("head snapshot"),
    Col("committed"),
    Col("rows"),
    Col("written by"),
    Col("run id"),
)
SCHEMA_COLS = (Col("id", right=True, head=True), Col("column", key=True), Col("type", head=True), Col("null"))


def iso(when: str) -> str | None:
    """`2026-12-06 07:55:08 UTC` (as tables show it) as ISO-8601 for --json; `-` (no snapshot) as None."""
    return None if when == "-" else when.removesuffix(" UTC").replace(" ", "T") + "Z"


def tables_view(infos: Sequence[TableInfo], width: int) -> Group:
    rows = [
        [
            i.name,
            i.rows,
            i.data_files,
            file_size(i.size_bytes),
            i.snapshots,
            i.partitioning,
            i.updated,
            i.last_maintenance or "never",
            i.last_maintenance_ops or "",
            len(i.audit_branches) or "-",
        ]
        for i in infos
    ]
    return rows_listing("tables", TABLE_COLS, rows, width)


def table_info_json(info: TableInfo) -> dict[str, Any]:
    return {
        "table": info.name,
        "rows": info.rows,
        "data_files": info.data_files,
        "delete_files": info.delete_files,
        "size_bytes": info.size_bytes,
        "snapshots": info.snapshots,
        "current_snapshot_id": info.current_snapshot,
        "partitioning": info.partitioning,
        "updated": iso(info.updated),
        "last_maintenance": info.last_maintenance,
        "last_maintenance_ops": info.last_maintenance_ops,
        "audit_branches": list(info.audit_branches),
    }


def overview_view(info: TableInfo, manifests: int, width: int) -> Group:
    """One table's files and maintenance, as one listing row."""
    cols = (
        Col("table", key=True),
        Col("rows", head=True, right=True, unit="rows"),
        Col("data files", head=True, right=True, unit="data files"),
        Col("size", head=True, right=True),
        Col("delete files", right=True),
        Col("manifests", right=True),
        Col("last maintenance"),
        Col("maintenance", wrap=True),
    )
    row = [
        info.name,
        info.rows,
        info.data_files,
        file_size(info.size_bytes),
        info.delete_files,
        manifests,
        info.last_maintenance or "never",
        info.last_maintenance_ops or "",
    ]
    return rows_listing(f"{info.name} files", cols, [row], width)


def schema_rows(table: Table) -> list[dict[str, Any]]:
    return [
        {"id": f.field_id, "column": f.name, "type": str(f.field_type), "required": f.required}
        for f in table.schema().fields
    ]


def schema_view(name: str, fields: Sequence[dict[str, Any]], width: int) -> Group:
    rows = [[f["id"], f["column"], f["type"], "required" if f["required"] else "optional"] for f in fields]
    return rows_listing(f"{name} schema", SCHEMA_COLS, rows, width)


def snapshots_view(name: str, snaps: Sequence[SnapshotInfo], width: int) -> Group:
    rows = [
        [s.snapshot_id, s.committed, s.operation, s.added_rows, s.total_rows, s.written_by, ", ".join(s.refs)]
        for s in snaps
    ]
    return rows_listing(f"{name} snapshots", SNAPSHOT_COLS, rows, width)


def snapshot_json(snap: SnapshotInfo) -> dict[str, Any]:
    return {
        "snapshot_id": snap.snapshot_id,
        "committed": iso(snap.committed),
        "operation": snap.operation,
        "added_rows": snap.added_rows,
        "total_rows": snap.total_rows,
        "written_by": snap.written_by,
        "head_of": list(snap.refs),
    }


def branches_view(title: str, branches: Sequence[BranchInfo], width: int) -> Group:
    rows = [
        [
            b.name,
            f"audit {b.kind}" if b.audit else b.kind,
            b.snapshot_id,
            b.committed,
            b.rows,
            b.written_by,
            b.run_id or "-",
        ]
        for b in branches
    ]
    return rows_listing(title, BRANCH_COLS, rows, width)


def branch_json(branch: BranchInfo) -> dict[str, Any]:
    return {
        "ref": branch.name,
        "type": branch.kind,
        "audit": branch.audit,
        "snapshot_id": branch.snapshot_id,
        "committed": iso(branch.committed),
        "rows": branch.rows,
        "pipeline": branch.pipeline,
        "step": branch.step,
        "run_id": branch.run_id,
    }


def query_view(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> Any:
    """Query results (and the demo's verification queries): values as they are, NULL shown as ∅."""
    return records(title, columns, [["∅" if v is None else v for v in row] for row in rows], width)
