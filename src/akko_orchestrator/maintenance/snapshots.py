"""Which snapshots to expire, and which files only they reference.

pyiceberg 0.12's `expire_snapshots().older_than()` protects only the heads of branches and tags: it would expire
the snapshots an audit branch was cut from and main's history that exactly-once retries look up. AKKO chooses the
ids itself and hands them to pyiceberg's `ExpireSnapshots.by_ids`:
- main: its newest `retain_last` snapshots, and every snapshot of its history younger than `older_than` (never
  less than the exactly-once window, config/maintenance.py);
- every other branch: its head and its history down to where it left main's history (that fork point included:
  an audit branch is published by a fast-forward from it); every tag: its snapshot;
- any other snapshot (left by a re-cut branch, a replaced publish) older than the threshold goes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import EXACTLY_ONCE_WINDOW

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import ManifestFile
    from pyiceberg.table import Table
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.table.snapshots import Snapshot


def snapshots_to_expire(
    metadata: TableMetadata, now: dt.datetime, older_than: dt.timedelta, retain_last: int
) -> list[int]:
    cutoff_ms = int((now - max(older_than, EXACTLY_ONCE_WINDOW)).timestamp() * 1000)
    keep = needed_snapshots(metadata, cutoff_ms, max(retain_last, 1))
    return sorted(
        s.snapshot_id for s in metadata.snapshots if s.snapshot_id not in keep and s.timestamp_ms < cutoff_ms
    )


def needed_snapshots(metadata: TableMetadata, cutoff_ms: int, retain_last: int) -> set[int]:
    from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType

    main = _history(metadata, metadata.refs[MAIN_BRANCH].snapshot_id) if MAIN_BRANCH in metadata.refs else []
    keep = {s.snapshot_id for i, s in enumerate(main) if i < retain_last or s.timestamp_ms >= cutoff_ms}
    on_main = {s.snapshot_id for s in main}
    for name, ref in metadata.refs.items():
        if name == MAIN_BRANCH:
            continue
        if ref.snapshot_ref_type == SnapshotRefType.TAG:
            keep.add(ref.snapshot_id)
            continue
        for snapshot in _history(metadata, ref.snapshot_id):
            keep.add(snapshot.snapshot_id)
            if snapshot.snapshot_id in on_main:  # the fork point: below it, main's own rules apply
                break
    return keep


def _history(metadata: TableMetadata, head_id: int) -> list[Snapshot]:
    from pyiceberg.table.snapshots import ancestors_of

    return list(ancestors_of(metadata.snapshot_by_id(head_id), metadata))


class Reachability:
    """Files each snapshot references (manifest list, manifests, live data and delete files), each manifest read
    once however many snapshots share it."""

    def __init__(self, io: FileIO):
        self.io = io
        self._manifests: dict[str, set[str]] = {}

    def files(self, snapshots: list[Snapshot]) -> set[str]:
        found: set[str] = set()
        for snapshot in snapshots:
            found.add(snapshot.manifest_list)
            for manifest in snapshot.manifests(self.io):
                found.add(manifest.manifest_path)
                found |= self._entries(manifest)
        return found

    def _entries(self, manifest: ManifestFile) -> set[str]:
        path = manifest.manifest_path
        if path not in self._manifests:
            entries = manifest.fetch_manifest_entry(self.io, discard_deleted=True)
            self._manifests[path] = {entry.data_file.file_path for entry in entries}
        return self._manifests[path]


def expire(table: Table, snapshot_ids: list[int]) -> int:
    """Expire `snapshot_ids` in one commit that asserts every ref is where it was read (a branch moved meanwhile
    fails maintenance, never the writer), then delete the files only they referenced (what Iceberg's own
    ExpireSnapshots does; pyiceberg 0.12 removes the snapshots from the metadata only). Returns files deleted."""
    from pyiceberg.table.update import AssertRefSnapshotId
    from pyiceberg.table.update.snapshot import ExpireSnapshots

    if not snapshot_ids:
        return 0
    metadata = table.metadata
    io = table.io
    gone = [metadata.snapshot_by_id(i) for i in snapshot_ids]
    kept = [s for s in metadata.snapshots if s.snapshot_id not in set(snapshot_ids)]
    reach = Reachability(io)
    only_expired = reach.files(gone) - reach.files(kept)
    tx = table.transaction()
    updates, _ = ExpireSnapshots(tx).by_ids(snapshot_ids)._commit()
    refs = tuple(
        AssertRefSnapshotId(ref=name, snapshot_id=ref.snapshot_id) for name, ref in metadata.refs.items()
    )
    tx._stage(updates, refs)
    tx.commit_transaction()
    for path in sorted(only_expired):
        io.delete(path)
    return len(only_expired)
