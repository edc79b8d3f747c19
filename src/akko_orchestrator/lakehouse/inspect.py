"""Read-only views of the lakehouse for `akko tables`: tables, their files and last maintenance, snapshots,
schema, partitions, branches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from akko_orchestrator.lakehouse.wap import AUDIT_PREFIX, audit_branches

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

# Table properties the maintenance DAG sets after each run: when (ISO-8601 UTC) and what (short text such as
# `expire 12, compact 200->2 files`).
LAST_MAINTENANCE = "akko.last-maintenance"
LAST_MAINTENANCE_OPS = "akko.last-maintenance-ops"


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int
    snapshots: int
    current_snapshot: int | None
    updated: str
    partitioning: str
    audit_branches: tuple[str, ...] = ()  # left by steps whose checks failed (write-audit-publish)
    # from the current snapshot's summary (Iceberg keeps running totals there: nothing is listed or read)
    data_files: int = 0
    size_bytes: int = 0
    delete_files: int = 0
    last_maintenance: str | None = None  # None: never maintained
    last_maintenance_ops: str | None = None


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: int
    committed: str
    operation: str
    added_rows: int
    total_rows: int
    written_by: str
    refs: tuple[str, ...] = ()  # branches and tags whose head is this snapshot


@dataclass(frozen=True)
class BranchInfo:
    """A ref other than `main`: its head snapshot, and who wrote that snapshot."""

    name: str
    kind: str  # branch | tag
    snapshot_id: int
    committed: str
    rows: int | None  # total-records of the head snapshot
    pipeline: str | None
    step: str | None
    run_id: str | None
    audit: bool  # an audit branch left by a step whose checks failed

    @property
    def written_by(self) -> str:
        return "/".join(part for part in (self.pipeline, self.step) if part) or "-"


def list_tables(catalog: Catalog) -> list[TableInfo]:
    infos = []
    for namespace in sorted(catalog.list_namespaces()):
        for identifier in sorted(catalog.list_tables(namespace)):
            infos.append(table_info(catalog.load_table(identifier), ".".join(identifier)))
    return infos


def table_info(table: Table, name: str) -> TableInfo:
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot else None
    return TableInfo(
        name=name,
        rows=int(summary.get("total-records", 0)) if summary else 0,
        snapshots=len(table.snapshots()),
        current_snapshot=snapshot.snapshot_id if snapshot else None,
        updated=_when(snapshot.timestamp_ms) if snapshot else "-",
        partitioning=", ".join(
            str(f.transform) + f"({table.schema().find_column_name(f.source_id)})"
            for f in table.spec().fields
        )
        or "unpartitioned",
        audit_branches=tuple(audit_branches(table)),
        data_files=_total(summary, "total-data-files"),
        size_bytes=_total(summary, "total-files-size"),
        delete_files=_total(summary, "total-delete-files"),
        last_maintenance=table.properties.get(LAST_MAINTENANCE),
        last_maintenance_ops=table.properties.get(LAST_MAINTENANCE_OPS),
    )


def manifest_count(table: Table) -> int:
    """Manifests of the current snapshot (one read of its manifest list, a small file)."""
    snapshot = table.current_snapshot()
    return len(snapshot.manifests(table.io)) if snapshot is not None else 0


def _total(summary: Any, key: str) -> int:
    value = summary.get(key) if summary is not None else None
    return int(value) if value is not None else 0


def snapshots(table: Table) -> list[SnapshotInfo]:
    heads: dict[int, list[str]] = {}
    for name, ref in sorted(table.metadata.refs.items()):
        heads.setdefault(ref.snapshot_id, []).append(name)
    result = []
    for snapshot in table.snapshots():
        summary = snapshot.summary
        props = summary.additional_properties if summary else {}
        writer = "/".join(props[k] for k in ("akko.pipeline", "akko.step") if k in props) or "-"
        result.append(
            SnapshotInfo(
                snapshot_id=snapshot.snapshot_id,
                committed=_when(snapshot.timestamp_ms),
                operation=str(summary.operation.value) if summary else "-",
                added_rows=int(props.get("added-records", 0)),
                total_rows=int(props.get("total-records", 0)),
                written_by=writer,
                refs=tuple(heads.get(snapshot.snapshot_id, ())),
            )
        )
    return result


def branches(table: Table) -> list[BranchInfo]:
    """Every ref but `main`, audit branches first."""
    result = []
    for name, ref in table.metadata.refs.items():
        if name == "main":
            continue
        snapshot = table.metadata.snapshot_by_id(ref.snapshot_id)
        summary = snapshot.summary if snapshot is not None else None
        props = summary.additional_properties if summary else {}
        total = props.get("total-records")
        result.append(
            BranchInfo(
                name=name,
                kind=str(ref.snapshot_ref_type.value),
                snapshot_id=ref.snapshot_id,
                committed=_when(snapshot.timestamp_ms) if snapshot is not None else "-",
                rows=int(total) if total is not None else None,
                pipeline=props.get("akko.pipeline"),
                step=props.get("akko.step"),
                run_id=props.get("akko.run-id"),
                audit=name.startswith(AUDIT_PREFIX),
            )
        )
    return sorted(result, key=lambda b: (not b.audit, b.name))


def _when(timestamp_ms: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
