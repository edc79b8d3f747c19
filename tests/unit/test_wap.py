"""Write-audit-publish on real pyiceberg tables: branch writes leave main alone, publish fast-forwards atomically
and never drops another writer's commit, exactly-once finds what a run already published."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.lakehouse.wap import (
    MainMoved,
    audit_branch,
    audit_branches,
    find_published,
    prepare_branch,
    publish,
    remove_branch,
    stamp,
)
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output

RUN = {"akko.pipeline": "p", "akko.step": "s", "akko.run-id": "run-1", "akko.try-number": "1"}
BRANCH = audit_branch("p", "s")


@pytest.fixture
def catalog(tmp_path: Path) -> SqlCatalog:
    return SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=tmp_path.as_uri())


def ids(catalog: SqlCatalog, ref: str | None = None) -> list[int]:
    scan = catalog.load_table("demo.t").scan()
    if ref is not None:
        scan = scan.use_ref(ref)
    return sorted(scan.to_arrow().column("id").to_pylist())


def data(*values: int) -> pa.Table:
    return pa.table({"id": pa.array(values, pa.int64())})


def test_branch_write_leaves_main_and_publish_fast_forwards(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), data(1, 2))
    main_before = catalog.load_table("demo.t").current_snapshot().snapshot_id
    written = write_table(catalog, Output(table="demo.t"), data(3), RUN, branch=BRANCH)
    assert written.branch == BRANCH and written.base_snapshot_id == main_before
    assert ids(catalog) == [1, 2]  # main did not move
    assert ids(catalog, BRANCH) == [1, 2, 3]
    published = publish(catalog, "demo.t", BRANCH, written.base_snapshot_id)
    table = catalog.load_table("demo.t")
    assert published == written.snapshot_id == table.current_snapshot().snapshot_id
    assert ids(catalog) == [1, 2, 3]
    assert audit_branches(table) == []  # removed in the publish commit


def test_new_table_is_empty_on_main_until_published(catalog: SqlCatalog) -> None:
    written = write_table(catalog, Output(table="demo.t", partition_by=["id"]), data(1), RUN, branch=BRANCH)
    assert written.created
    assert ids(catalog) == [] and ids(catalog, BRANCH) == [1]
    creation = catalog.load_table("demo.t").current_snapshot()
    assert "akko.run-id" not in creation.summary.additional_properties  # never taken for a publish
    publish(catalog, "demo.t", BRANCH, written.base_snapshot_id)
    assert ids(catalog) == [1]


def test_publish_never_drops_a_concurrent_commit(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), data(1))
    written = write_table(catalog, Output(table="demo.t"), data(2), RUN, branch=BRANCH)
    other = {"akko.pipeline": "other", "akko.step": "load", "akko.run-id": "run-9"}
    write_table(catalog, Output(table="demo.t"), data(100), other)  # another writer commits to main
    with pytest.raises(MainMoved, match=r"other\.load \(run run-9\)"):
        publish(catalog, "demo.t", BRANCH, written.base_snapshot_id)
    assert ids(catalog) == [1, 100]  # their commit is still there; ours is not published
    assert ids(catalog, BRANCH) == [1, 2]


def test_rewriting_the_branch_restarts_from_main(catalog: SqlCatalog) -> None:
    """A retried try cuts the branch again from main: what an earlier (killed) try left there is dropped."""
    write_table(catalog, Output(table="demo.t"), data(1))
    write_table(catalog, Output(table="demo.t"), data(2), RUN, branch=BRANCH)
    again = write_table(
        catalog, Output(table="demo.t"), data(2), {**RUN, "akko.try-number": "2"}, branch=BRANCH
    )
    assert ids(catalog, BRANCH) == [1, 2]
    publish(catalog, "demo.t", BRANCH, again.base_snapshot_id)
    assert ids(catalog) == [1, 2]


def test_find_published_looks_at_main_history_only(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), data(1))
    written = write_table(catalog, Output(table="demo.t"), data(2), RUN, branch=BRANCH)
    assert find_published(catalog.load_table("demo.t"), RUN) is None  # on the branch: not published
    publish(catalog, "demo.t", BRANCH, written.base_snapshot_id)
    write_table(catalog, Output(table="demo.t"), data(3), {**RUN, "akko.run-id": "run-2"})
    found = find_published(catalog.load_table("demo.t"), {**RUN, "akko.try-number": "7"})
    assert found is not None and found.snapshot_id == written.snapshot_id


def test_prepare_stamp_and_remove_for_other_writers(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), data(1))
    base = prepare_branch(catalog, "demo.t", BRANCH, RUN)
    assert base == catalog.load_table("demo.t").current_snapshot().snapshot_id
    stamp(catalog, "demo.t", BRANCH, RUN)
    stamp(catalog, "demo.t", BRANCH, RUN)  # idempotent: the head already carries the identity
    table = catalog.load_table("demo.t")
    head = table.snapshot_by_name(BRANCH)
    assert head.parent_snapshot_id == base and head.summary["akko.run-id"] == "run-1"
    assert remove_branch(catalog, "demo.t", BRANCH) and not remove_branch(catalog, "demo.t", BRANCH)


def test_merge_and_overwrite_on_a_branch(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), pa.table({"id": [1, 2], "v": ["a", "b"]}))
    merge = Output(table="demo.t", mode="merge", keys=["id"])
    write_table(catalog, merge, pa.table({"id": [2, 3], "v": ["B", "c"]}), RUN, branch=BRANCH)
    branch_rows = catalog.load_table("demo.t").scan().use_ref(BRANCH).to_arrow().sort_by("id").to_pylist()
    assert branch_rows == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    write_table(
        catalog, Output(table="demo.t", mode="overwrite"), pa.table({"id": [9], "v": ["z"]}), RUN, BRANCH
    )
    assert ids(catalog, BRANCH) == [9] and ids(catalog) == [1, 2]


def test_verify_branch_refuses_a_snapshot_left_by_another_attempt(catalog: SqlCatalog) -> None:
    """pyiceberg's commit retry can drop the staged cut of the branch and put our snapshot on a stale branch:
    the branch must hold the base plus this attempt's snapshots only."""
    from akko_orchestrator.lakehouse.wap import verify_branch

    write_table(catalog, Output(table="demo.t"), data(1))
    stale = write_table(catalog, Output(table="demo.t"), data(2), {**RUN, "akko.write-id": "old"}, BRANCH)
    ours = {**RUN, "akko.write-id": "new"}
    table = catalog.load_table("demo.t")
    tx = table.transaction()
    tx.append(data(3), snapshot_properties=ours, branch=BRANCH)  # on top of the stale head, as a retry would
    tx.commit_transaction()
    head = catalog.load_table("demo.t").snapshot_by_name(BRANCH).snapshot_id
    with pytest.raises(MainMoved):
        verify_branch(catalog.load_table("demo.t"), BRANCH, head, stale.base_snapshot_id, "new")
    good = write_table(catalog, Output(table="demo.t"), data(3), ours, branch=BRANCH)
    verify_branch(catalog.load_table("demo.t"), BRANCH, good.snapshot_id, good.base_snapshot_id, "new")
