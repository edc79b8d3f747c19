"""Read-only views of the lakehouse for `akko tables`: tables, snapshots, schema, partitions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int
    snapshots: int
    current_snapshot: int | None
    updated: str
    partitioning: str


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: int
    committed: str
    operation: str
    added_rows: int
    total_rows: int
    written_by: str


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
    )


def snapshots(table: Table) -> list[SnapshotInfo]:
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
            )
        )
    return result


def _when(timestamp_ms: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
