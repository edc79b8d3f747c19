"""Maintain one table: guards first, then the profile's implementation, then the record on the table.

Guards (a table that fails one is skipped, with the reason, and maintained by the next run):
- maintenance turned off for it (`enabled: false`), or the table does not exist yet;
- an audit branch younger than the floor: a write may be checking its data right now (maintenance/retention.py);
- the operator adds: its writer pipeline's DAG has a running or queued run (operators/maintenance.py).
Every rewrite commit asserts `main` did not move since it was read, so a writer that slips in between makes
maintenance fail, never the writer. The last run is recorded as table properties `akko.last-maintenance` and
`akko.last-maintenance-ops` (what `akko tables` shows).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import TableMaintenance, duration, size_bytes
from akko_orchestrator.maintenance import retention
from akko_orchestrator.maintenance.report import LAST_MAINTENANCE, LAST_MAINTENANCE_OPS, TableReport
from akko_orchestrator.quality.history import HISTORY_TABLE

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from akko_orchestrator.engines.base import SqlEngine

log = logging.getLogger("akko")
SNAPSHOT_PROPERTIES = {
    "akko.operation": "maintenance"
}  # never an `akko.run-id`: never mistaken for a publish
PROPERTY_ATTEMPTS = 5


def maintain_table(
    catalog: Catalog,
    settings: TableMaintenance,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    trino: tuple[SqlEngine, str] | None = None,
) -> TableReport:
    """`trino`: the cluster profile's engine and its lakehouse catalog name; None: pyiceberg (`local`)."""
    from pyiceberg.exceptions import NoSuchTableError

    now = now or dt.datetime.now(dt.UTC)
    report = TableReport(settings.table, engine="trino" if trino else "pyiceberg")
    if not settings.enabled:
        return _skip(report, "maintenance is off for this table (enabled: false)")
    try:
        table = catalog.load_table(settings.table)
    except NoSuchTableError:
        return _skip(report, "the table does not exist yet")
    branch = retention.in_flight_branch(table, now)
    if branch is not None:
        return _skip(report, f"audit branch {branch} may be a write in flight")
    _measure(table, report, before=True)
    if dry_run:
        report.status, report.planned = "dry-run", planned(table, settings, now, trino)
        _measure(table, report, before=False)
        return report
    _retention(table, settings, now, report)
    if trino is not None:
        from akko_orchestrator.maintenance.trino import run_trino

        for sql in run_trino(table, settings, trino[0], trino[1], report):
            log.info("%s: %s", settings.table, sql)
    else:
        from akko_orchestrator.maintenance.local import run_local

        run_local(table, settings, now, report, SNAPSHOT_PROPERTIES)
    table.refresh()
    _measure(table, report, before=False)
    record(table, report, now)
    return report


def planned(
    table: Table, settings: TableMaintenance, now: dt.datetime, trino: tuple[SqlEngine, str] | None
) -> list[str]:
    """What a run would do now, as short phrases (`akko maintain --dry-run`)."""
    todo = []
    if settings.audit_branches is not None:
        old = retention.old_audit_branches(table, duration(settings.audit_branches.retain), now)
        todo += [f"remove branch {b}" for b in old]
    if trino is not None:
        from akko_orchestrator.maintenance.trino import statements

        return todo + [procedure.call for procedure in statements(table, settings, trino[1])]
    from akko_orchestrator.maintenance.files import small_files
    from akko_orchestrator.maintenance.local import expirable, orphan_files

    if settings.compact is not None:
        small = len(small_files(table, size_bytes(settings.compact.target_file_size)))
        if small >= settings.compact.min_input_files:
            todo.append(f"compact {small} files")
    if settings.expire_snapshots is not None:
        todo.append(f"expire {len(expirable(table, settings, now))}")
    if settings.remove_orphan_files is not None:
        orphans = orphan_files(table, duration(settings.remove_orphan_files.older_than), now)
        todo.append(f"orphans {len(orphans)}")
    return todo


def record(table: Table, report: TableReport, now: dt.datetime) -> None:
    """Table properties, not a snapshot: `main` does not move. Retried on a concurrent commit (properties never
    conflict with data)."""
    from pyiceberg.exceptions import CommitFailedException

    values = {
        LAST_MAINTENANCE: now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        LAST_MAINTENANCE_OPS: report.summary()[:500],
    }
    for attempt in range(PROPERTY_ATTEMPTS):
        try:
            table.transaction().set_properties(values).commit_transaction()
            return
        except CommitFailedException:
            if attempt == PROPERTY_ATTEMPTS - 1:
                raise
            table.refresh()


def _retention(table: Table, settings: TableMaintenance, now: dt.datetime, report: TableReport) -> None:
    if settings.audit_branches is not None:
        old = retention.old_audit_branches(table, duration(settings.audit_branches.retain), now)
        retention.remove_audit_branches(table, old)
        report.branches_removed = old
    if settings.table == HISTORY_TABLE and settings.check_results is not None:
        keep = duration(settings.check_results.retain)
        report.check_rows_deleted = retention.old_check_rows(table, keep, now)
        if report.check_rows_deleted:
            retention.delete_check_rows(table, keep, now, SNAPSHOT_PROPERTIES)
    table.refresh()


def _measure(table: Table, report: TableReport, before: bool) -> None:
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot is not None and snapshot.summary else {}
    files = int(summary.get("total-data-files", 0))
    size = int(summary.get("total-files-size", 0))
    manifests = len(snapshot.manifests(table.io)) if snapshot is not None else 0
    if before:
        report.files_before, report.bytes_before, report.manifests_before = files, size, manifests
    else:
        report.files_after, report.bytes_after, report.manifests_after = files, size, manifests


def _skip(report: TableReport, reason: str) -> TableReport:
    report.status, report.reason = "skipped", reason
    return report
