"""Compaction and manifest rewrite with pyiceberg, written here because pyiceberg 0.12 has neither (no
`rewrite_data_files`, no `rewrite_manifests`; its `update_snapshot_summaries` even refuses the `replace` operation).

Both commit one `replace` snapshot on `main` (Iceberg's operation for "files changed, data did not") through
pyiceberg's own snapshot producer, staged without registering it for pyiceberg's commit retries: a retry would
re-apply the rewrite on whatever `main` became. The commit asserts `main` is still at the snapshot the rewrite read,
so a writer that committed meanwhile wins and maintenance fails (its new files are deleted), never the writer.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile, ManifestFile
    from pyiceberg.table import FileScanTask, Table

TARGET_FILE_SIZE = "write.target-file-size-bytes"


class MaintenanceConflict(AkkoError):
    """A writer committed to the table while maintenance rewrote it: maintenance gives way."""


def _producer_class() -> type:
    from pyiceberg.table.snapshots import Operation, Summary
    from pyiceberg.table.update.snapshot import _OverwriteFiles

    class ReplaceFiles(_OverwriteFiles):
        """An overwrite whose snapshot says `replace`: pyiceberg computes the totals as for an overwrite."""

        def _summary(self, snapshot_properties: Any = None) -> Summary:
            self._operation = Operation.OVERWRITE
            try:
                summary = super()._summary(snapshot_properties or {})
            finally:
                self._operation = Operation.REPLACE
            return Summary(Operation.REPLACE, **summary.additional_properties)

    return ReplaceFiles


def _manifests_class() -> type:
    from pyiceberg.manifest import ManifestContent, ManifestEntry, ManifestEntryStatus

    class RewriteManifests(_producer_class()):  # type: ignore[misc]
        """Every live data file of `main` into one manifest per partition spec; delete manifests kept."""

        def _deleted_entries(self) -> list[Any]:
            return []

        def _existing_manifests(self) -> list[ManifestFile]:
            snapshot = self._transaction.table_metadata.snapshot_by_id(self._parent_snapshot_id)
            by_spec: dict[int, list[Any]] = defaultdict(list)
            kept = []
            for manifest in snapshot.manifests(io=self._io):
                if manifest.content != ManifestContent.DATA:
                    kept.append(manifest)
                    continue
                by_spec[manifest.partition_spec_id] += manifest.fetch_manifest_entry(
                    self._io, discard_deleted=True
                )
            written = []
            for spec_id, entries in sorted(by_spec.items()):
                with self.new_manifest_writer(self.spec(spec_id)) as writer:
                    for entry in entries:
                        writer.add_entry(
                            ManifestEntry.from_args(
                                status=ManifestEntryStatus.EXISTING,
                                snapshot_id=entry.snapshot_id,
                                sequence_number=entry.sequence_number,
                                file_sequence_number=entry.file_sequence_number,
                                data_file=entry.data_file,
                            )
                        )
                written.append(writer.to_manifest_file())
            return written + kept

    return RewriteManifests


def small_files(table: Table, target_bytes: int) -> list[FileScanTask]:
    """Data files of `main` below the target size, of the current partition spec, with no delete file applying
    (a file with row deletes is left to the engine that wrote them)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    spec_id = table.metadata.default_spec_id
    tasks = table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
    return [
        t
        for t in tasks
        if not t.delete_files and t.file.file_size_in_bytes < target_bytes and t.file.spec_id == spec_id
    ]


def compact(table: Table, tasks: list[FileScanTask], target_bytes: int, properties: dict[str, str]) -> int:
    """Rewrite the files of `tasks` into files of about `target_bytes` (per partition), same rows, same schema and
    partition spec, in one commit. Returns the number of files written."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files

    base = table.current_snapshot()
    assert base is not None
    rows = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(tasks)
    sized = table.metadata.model_copy(
        update={"properties": {**table.metadata.properties, TARGET_FILE_SIZE: str(target_bytes)}}
    )
    written = list(_dataframe_to_data_files(sized, rows, table.io, write_uuid=uuid.uuid4()))
    _commit(table, base.snapshot_id, [t.file for t in tasks], written, properties)
    return len(written)


def rewrite_manifests(table: Table, properties: dict[str, str]) -> tuple[int, int]:
    """One manifest per partition spec for `main`'s live data files. Returns (manifests before, after)."""
    base = table.current_snapshot()
    if base is None:
        return 0, 0
    from pyiceberg.manifest import ManifestContent

    manifests = base.manifests(table.io)
    before = len(manifests)
    data_manifests = [m for m in manifests if m.content == ManifestContent.DATA]
    specs = {m.partition_spec_id for m in data_manifests}
    if len(data_manifests) <= len(specs):
        return before, before
    from pyiceberg.table.snapshots import Operation

    tx = table.transaction()
    producer = _manifests_class()(
        transaction=tx, io=table.io, snapshot_properties=properties, operation=Operation.REPLACE
    )
    _stage_and_commit(table, tx, producer, base.snapshot_id, [])
    after = table.current_snapshot()
    return before, len(after.manifests(table.io)) if after is not None else 0


def _commit(
    table: Table, base_id: int, removed: list[DataFile], added: list[DataFile], properties: dict[str, str]
) -> None:
    from pyiceberg.table.snapshots import Operation

    tx = table.transaction()
    producer = _producer_class()(
        transaction=tx, io=table.io, snapshot_properties=properties, operation=Operation.REPLACE
    )
    for data_file in removed:
        producer.delete_data_file(data_file)
    for data_file in added:
        producer.append_data_file(data_file)
    _stage_and_commit(table, tx, producer, base_id, added)


def _stage_and_commit(table: Table, tx: Any, producer: Any, base_id: int, added: list[DataFile]) -> None:
    from pyiceberg.exceptions import CommitFailedException

    if producer._parent_snapshot_id != base_id:
        raise MaintenanceConflict(f"{_name(table)}: main moved while maintenance read it")
    try:
        tx._stage(*producer._commit())  # requirement: main is still at base_id
        tx.commit_transaction()
    except CommitFailedException as exc:
        producer._clean_all_uncommitted()
        for data_file in added:
            table.io.delete(data_file.file_path)
        raise MaintenanceConflict(
            f"{_name(table)}: a writer committed while maintenance rewrote the table; maintenance gave way "
            f"(the next run retries): {exc}"
        ) from None
    table.refresh()


def _name(table: Table) -> str:
    return ".".join(table.name()[-2:])
