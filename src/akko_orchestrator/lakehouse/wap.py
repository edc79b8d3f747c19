"""Write-audit-publish and exactly-once on Iceberg refs, with pyiceberg.

- A step's audit branch is cut from `main`'s head in the same commit that writes the new snapshot to it, so `main`
  never moves while the data is checked.
- Publishing fast-forwards `main` to the branch head and removes the branch, in one commit that asserts `main` is
  still where it was read (the catalog refuses the commit otherwise). It is written here because pyiceberg 0.12's
  `set_current_snapshot` checks no ancestry: used alone, it silently drops a commit another writer made to `main`
  in between. If `main` moved, `publish` raises `MainMoved` naming that writer, and the caller replays its write.
- Exactly-once: every snapshot a step commits carries the run identity (`akko.pipeline`, `akko.step`,
  `akko.run-id`); a snapshot of this run in `main`'s history means the step already published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table, Transaction
    from pyiceberg.table.snapshots import Snapshot

AUDIT_PREFIX = "akko_audit__"
PUBLISH_ATTEMPTS = 5  # catalog commit conflicts on the publish commit itself (not replays of the write)


def audit_branch(pipeline: str, step: str) -> str:
    """One audit branch per writing step; plain [a-z0-9_] so Spark and Trino can name it too (a dbt model's step
    `marts.stg_x` is `marts__stg_x`)."""
    return f"{AUDIT_PREFIX}{pipeline}__{step.replace('.', '__')}"


class MainMoved(AkkoError):
    """`main` gained commits since the audit branch was cut: a fast-forward would drop them."""

    def __init__(self, table: str, branch: str, writers: list[str]):
        self.writers = writers
        super().__init__(
            f"{table}: main moved since branch {branch} was cut, by {', '.join(writers) or 'another writer'}"
        )


@dataclass(frozen=True)
class BranchState:
    branch: str
    base_id: int | None  # main's head when the branch was cut (None: the table was empty)
    head_id: int | None


def identity_matches(snapshot: Snapshot, identity: dict[str, str]) -> bool:
    props = snapshot.summary.additional_properties if snapshot.summary else {}
    return all(props.get(key) == identity[key] for key in ("akko.pipeline", "akko.step", "akko.run-id"))


def find_published(table: Table, identity: dict[str, str]) -> Snapshot | None:
    """The newest snapshot in `main`'s history committed by this pipeline, step and run (any try)."""
    from pyiceberg.table.snapshots import ancestors_of

    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if identity_matches(snapshot, identity):
            return snapshot
    return None


def cut_branch(tx: Transaction, branch: str) -> int | None:
    """Stage (in `tx`) the audit branch at `main`'s head, replacing a branch left by an earlier try or run.
    Returns that head. The table must have a snapshot on main (pyiceberg writes branches only then)."""
    from pyiceberg.table.refs import SnapshotRefType

    head = tx.table_metadata.current_snapshot_id
    if head is None:
        raise AkkoError(
            "an audit branch needs a snapshot on main: create the table with `ensure_main_snapshot`"
        )
    update, requirement = (
        tx._set_ref_snapshot(  # the public ManageSnapshots API cannot reset an existing branch
            snapshot_id=head, ref_name=branch, type=SnapshotRefType.BRANCH
        )
    )
    tx._stage(update, requirement)
    return head


def ensure_main_snapshot(tx: Transaction, properties: dict[str, str]) -> None:
    """Stage an empty snapshot on `main` of a table that has none, so a branch can be cut from it: a new table
    is visible but empty until its first audited write is published."""
    if tx.table_metadata.current_snapshot_id is None:
        marker = {k: v for k, v in properties.items() if k != "akko.run-id"}  # never mistaken for a publish
        with tx.update_snapshot(snapshot_properties={**marker, "akko.operation": "create"}).fast_append():
            pass


def prepare_branch(catalog: Catalog, table_name: str, branch: str, properties: dict[str, str]) -> int | None:
    """For writers other than pyiceberg (Spark): in one commit, give `main` a snapshot if it has none and (re)cut
    the audit branch at `main`'s head. Returns that head (the base to publish against)."""
    tx = catalog.load_table(table_name).transaction()
    ensure_main_snapshot(tx, properties)
    base = cut_branch(tx, branch)
    tx.commit_transaction()
    return base


def stamp(catalog: Catalog, table_name: str, branch: str, properties: dict[str, str]) -> None:
    """Record the run identity on the branch head with an empty snapshot, for writers that cannot set snapshot
    properties themselves (Spark's MERGE INTO)."""
    table = catalog.load_table(table_name)
    head = table.snapshot_by_name(branch)
    if head is not None and identity_matches(head, properties):
        return
    tx = table.transaction()
    with tx.update_snapshot(snapshot_properties=properties, branch=branch).fast_append():
        pass
    tx.commit_transaction()


def verify_branch(table: Table, branch: str, head_id: int | None, base_id: int | None, write_id: str) -> None:
    """The branch holds exactly `base_id` plus the snapshots of this write attempt (`akko.write-id`), else raise
    `MainMoved`. Why: when a commit conflicts, pyiceberg retries it by re-applying the data change on the
    branch's head of the moment, dropping the staged cut of the branch; the snapshot could then sit on a stale
    branch (rows of an earlier try) or on no parent at all (none of main's rows)."""
    from pyiceberg.table.snapshots import ancestors_of

    head = table.metadata.snapshot_by_id(head_id) if head_id is not None else None
    for snapshot in ancestors_of(head, table.metadata):
        if snapshot.snapshot_id == base_id:
            return
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get("akko.write-id") != write_id:
            break
    else:
        if base_id is None and head is not None:
            return
    raise MainMoved(
        table.name()[-1] if table.name() else "table", branch, ["a concurrent commit during the write"]
    )


def branch_state(table: Table, branch: str) -> BranchState:
    from pyiceberg.table.snapshots import ancestors_of

    head = table.snapshot_by_name(branch)
    if head is None:
        return BranchState(branch, None, None)
    main = table.current_snapshot()
    ancestors = {s.snapshot_id for s in ancestors_of(head, table.metadata)}
    base = main.snapshot_id if main is not None and main.snapshot_id in ancestors else None
    return BranchState(branch, base, head.snapshot_id)


def publish(
    catalog: Catalog, table_name: str, branch: str, base_id: int | None, head_id: int | None = None
) -> int:
    """Fast-forward `main` to the head of `branch` and remove the branch, atomically. `base_id`: main's head when
    the branch was cut; if main is elsewhere now, raise `MainMoved` (nothing changes). `head_id`: the snapshot
    written and checked; if the branch head is another one (a concurrent run of the same step cut the branch
    again), raise `MainMoved` too: publishing would expose data nobody checked for this run."""
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
    from pyiceberg.table.update import AssertRefSnapshotId, RemoveSnapshotRefUpdate

    for _ in range(PUBLISH_ATTEMPTS):
        table = catalog.load_table(table_name)
        head = table.snapshot_by_name(branch)
        if head is None:
            raise AkkoError(f"{table_name}: audit branch {branch} is gone (removed by a cleanup?)")
        if head_id is not None and head.snapshot_id != head_id:
            raise MainMoved(
                table_name, branch, [f"another run of this step (branch head {head.snapshot_id})"]
            )
        main = table.current_snapshot()
        main_id = main.snapshot_id if main is not None else None
        if main_id != base_id and not only_rewrites(table, main_id, base_id):
            raise MainMoved(table_name, branch, _writers_since(table, main_id, base_id))
        tx = table.transaction()
        update, requirement = tx._set_ref_snapshot(
            snapshot_id=head.snapshot_id, ref_name=MAIN_BRANCH, type=SnapshotRefType.BRANCH
        )
        tx._stage(update, requirement)  # requirement: main is still at base_id when the catalog commits
        tx._stage(
            (RemoveSnapshotRefUpdate(ref_name=branch),),
            (AssertRefSnapshotId(ref=branch, snapshot_id=head.snapshot_id),),
        )
        try:
            tx.commit_transaction()
        except CommitFailedException:
            continue  # another commit landed first: re-read, and either fast-forward again or report the move
        return head.snapshot_id
    raise AkkoError(f"{table_name}: could not publish {branch} after {PUBLISH_ATTEMPTS} commit conflicts")


def only_rewrites(table: Table, head_id: int | None, base_id: int | None) -> bool:
    """Main moved from `base_id` to `head_id` only by `replace` snapshots (Iceberg's "files rewritten, data
    unchanged": compaction, manifest rewrite by AKKO's maintenance or Trino's optimize): the branch cut from
    `base_id` holds the same data plus its write, so fast-forwarding past them loses nothing (they are left to
    expiry). A maintenance run racing a write then costs the write nothing."""
    from pyiceberg.table.snapshots import Operation, ancestors_of

    if head_id is None or base_id is None:
        return False
    for snapshot in ancestors_of(table.metadata.snapshot_by_id(head_id), table.metadata):
        if snapshot.snapshot_id == base_id:
            return True
        if snapshot.summary is None or snapshot.summary.operation != Operation.REPLACE:
            return False
    return False


def remove_branch(catalog: Catalog, table_name: str, branch: str) -> bool:
    table = catalog.load_table(table_name)
    if branch not in table.metadata.refs:
        return False
    table.manage_snapshots().remove_branch(branch).commit()
    return True


def audit_branches(table: Table) -> list[str]:
    return sorted(name for name in table.metadata.refs if name.startswith(AUDIT_PREFIX))


def _writers_since(table: Table, head_id: int | None, base_id: int | None) -> list[str]:
    """Who committed to main after `base_id`: pipeline/step/run of each snapshot, newest first."""
    from pyiceberg.table.snapshots import ancestors_between, ancestors_of

    head = table.metadata.snapshot_by_id(head_id) if head_id is not None else None
    if head is None:
        return []
    if base_id is not None and table.metadata.snapshot_by_id(base_id) is not None:
        snapshots = list(ancestors_between(table.metadata.snapshot_by_id(base_id), head, table.metadata))
        snapshots = [s for s in snapshots if s.snapshot_id != base_id]
    else:
        snapshots = list(ancestors_of(head, table.metadata))
    writers = []
    for snapshot in snapshots[:5]:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if "akko.step" in props:
            writers.append(
                f"{props.get('akko.pipeline')}.{props['akko.step']} (run {props.get('akko.run-id')})"
            )
        else:
            writers.append(f"snapshot {snapshot.snapshot_id}")
    return writers
