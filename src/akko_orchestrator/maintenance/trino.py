"""Maintenance on the `cluster` profile: Trino's own table procedures, through the profile's Trino engine.

- `optimize(file_size_threshold => target)` when at least `min_input_files` files are below the target (counted
  from the table's metadata); Trino writes files up to its `iceberg.target-max-file-size`.
- `optimize_manifests` when main has more data manifests than partition specs.
- `expire_snapshots(retention_threshold => older_than)`: Trino takes only a threshold. Keep-last-K is Iceberg's
  table property `history.expire.min-snapshots-to-keep`, which Iceberg's ExpireSnapshots (what Trino calls)
  honours for every branch, so AKKO sets it (and `history.expire.max-snapshot-age-ms`, the age a branch's history
  is kept) to the settings first; every branch head is kept.
- `remove_orphan_files(retention_threshold => older_than)`.
The stack's Trino has its minimum retentions set to AKKO's floors (stack/trino.py), so AKKO's floors rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import TableMaintenance, duration, size_bytes
from akko_orchestrator.maintenance.files import small_files
from akko_orchestrator.maintenance.report import TableReport

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from akko_orchestrator.engines.base import SqlEngine

MIN_SNAPSHOTS = "history.expire.min-snapshots-to-keep"
MAX_SNAPSHOT_AGE = "history.expire.max-snapshot-age-ms"


def statements(table: Table, settings: TableMaintenance, catalog: str) -> list[str]:
    """The `ALTER TABLE ... EXECUTE` statements this table needs now, in order."""
    from pyiceberg.manifest import ManifestContent

    name = _qualified(catalog, table)
    found = []
    if settings.compact is not None:
        target = size_bytes(settings.compact.target_file_size)
        if len(small_files(table, target)) >= settings.compact.min_input_files:
            found.append(f"ALTER TABLE {name} EXECUTE optimize(file_size_threshold => '{_size(target)}')")
    snapshot = table.current_snapshot()
    if settings.rewrite_manifests and snapshot is not None:
        data = [m for m in snapshot.manifests(table.io) if m.content == ManifestContent.DATA]
        if len(data) > len({m.partition_spec_id for m in data}):
            found.append(f"ALTER TABLE {name} EXECUTE optimize_manifests")
    if settings.expire_snapshots is not None:
        threshold = _duration(settings.expire_snapshots.older_than)
        found.append(f"ALTER TABLE {name} EXECUTE expire_snapshots(retention_threshold => '{threshold}')")
    if settings.remove_orphan_files is not None:
        threshold = _duration(settings.remove_orphan_files.older_than)
        found.append(f"ALTER TABLE {name} EXECUTE remove_orphan_files(retention_threshold => '{threshold}')")
    return found


def run_trino(
    table: Table, settings: TableMaintenance, engine: SqlEngine, catalog: str, report: TableReport
) -> list[str]:
    """Runs the statements; returns them (for the task log). The counts come from the table's metadata after."""
    todo = statements(table, settings, catalog)
    if settings.expire_snapshots is not None:
        rule = settings.expire_snapshots
        wanted = {
            MIN_SNAPSHOTS: str(rule.retain_last),
            MAX_SNAPSHOT_AGE: str(int(duration(rule.older_than).total_seconds() * 1000)),
        }
        if any(table.properties.get(k) != v for k, v in wanted.items()):
            table.transaction().set_properties(wanted).commit_transaction()
    before = {s.snapshot_id for s in table.metadata.snapshots}
    small = len(small_files(table, size_bytes(settings.compact.target_file_size))) if settings.compact else 0
    untouched = report.files_before - small
    for sql in todo:
        engine.query(sql, [".".join(table.name()[-2:])])
        if "optimize(" in sql:
            table.refresh()
            report.compacted = (small, _live_files(table) - untouched)
    table.refresh()
    report.expired = len(before - {s.snapshot_id for s in table.metadata.snapshots})
    return todo


def _live_files(table: Table) -> int:
    snapshot = table.current_snapshot()
    return int(snapshot.summary.get("total-data-files", 0)) if snapshot and snapshot.summary else 0


def _qualified(catalog: str, table: Table) -> str:
    from sqlglot import exp

    namespace, name = table.name()[-2:]
    return exp.table_(name, db=namespace, catalog=catalog, quoted=True).sql(dialect="trino")


def _duration(text: str) -> str:
    """AKKO's `7d` as a Trino duration literal (Trino has no `w` unit)."""
    return f"{int(duration(text).total_seconds())}s"


def _size(size: int) -> str:
    return f"{size}B"
