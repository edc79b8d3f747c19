"""Maintenance on the `local` profile, with pyiceberg: compaction and manifest rewrite (maintenance/files.py),
snapshot expiry (maintenance/snapshots.py) and orphan file removal, written here because pyiceberg 0.12 has none:
files under the table's location that no snapshot, manifest or metadata file references, older than the threshold
(the files of a commit in flight are not referenced yet), never under `_akko/` (the staging area)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import TableMaintenance, duration, size_bytes
from akko_orchestrator.maintenance.files import compact, rewrite_manifests, small_files
from akko_orchestrator.maintenance.report import TableReport
from akko_orchestrator.maintenance.snapshots import Reachability, expire, snapshots_to_expire

if TYPE_CHECKING:
    from pyiceberg.table import Table

STAGING = "/_akko/"


def run_local(
    table: Table,
    settings: TableMaintenance,
    now: dt.datetime,
    report: TableReport,
    properties: dict[str, str],
) -> None:
    """Compact, then rewrite manifests, then expire (the compacted files go with the snapshots that held them),
    then remove orphans."""
    if settings.compact is not None:
        target = size_bytes(settings.compact.target_file_size)
        tasks = small_files(table, target)
        if len(tasks) >= settings.compact.min_input_files:
            report.compacted = (len(tasks), compact(table, tasks, target, properties))
    if settings.rewrite_manifests:
        rewrite_manifests(table, properties)
        table.refresh()
    if settings.expire_snapshots is not None:
        expired = expirable(table, settings, now)
        report.files_deleted = expire(table, expired)
        report.expired = len(expired)
        table.refresh()
    if settings.remove_orphan_files is not None:
        orphans = orphan_files(table, duration(settings.remove_orphan_files.older_than), now)
        for path in orphans:
            table.io.delete(path)
        report.orphans = len(orphans)


def expirable(table: Table, settings: TableMaintenance, now: dt.datetime) -> list[int]:
    assert settings.expire_snapshots is not None
    rule = settings.expire_snapshots
    return snapshots_to_expire(table.metadata, now, duration(rule.older_than), rule.retain_last)


def orphan_files(table: Table, older_than: dt.timedelta, now: dt.datetime) -> list[str]:
    """Files under the table's location referenced by nothing the table's metadata reaches, older than
    `older_than` (never less than the floor: config/maintenance.py)."""
    from fsspec.core import url_to_fs

    from akko_orchestrator.config.maintenance import ORPHAN_FLOOR

    cutoff = (now - max(older_than, ORPHAN_FLOOR)).timestamp()
    fs, root = url_to_fs(table.location())
    referenced = {_strip(fs, p) for p in _referenced(table)}
    found = []
    for path, info in sorted(fs.find(root, detail=True).items()):
        if STAGING in path or path in referenced:
            continue
        if _mtime(info) < cutoff:
            found.append(fs.unstrip_protocol(path))
    return found


def _referenced(table: Table) -> set[str]:
    metadata = table.metadata
    files = Reachability(table.io).files(list(metadata.snapshots))
    files.add(table.metadata_location)
    files |= {entry.metadata_file for entry in metadata.metadata_log}
    files |= {stats.statistics_path for stats in metadata.statistics}
    return files


def _strip(fs: object, path: str) -> str:
    return fs._strip_protocol(path)  # type: ignore[attr-defined]  # fsspec's own URI -> path rule


def _mtime(info: dict[str, object]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value) if isinstance(value, int | float) else float("inf")  # unknown age: never an orphan
