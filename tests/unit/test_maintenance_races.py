"""Maintenance racing writers, on a real pyiceberg SQL catalog: a writer that commits while maintenance rewrites
wins (maintenance fails, its files are deleted); a write-audit-publish whose branch was cut before a compaction
still publishes, with every row."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.lakehouse.wap import audit_branch, publish
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.maintenance.files import MaintenanceConflict, compact, small_files
from akko_orchestrator.spec.models import Output

OUT = Output(table="demo.t", mode="append")


@pytest.fixture
def catalog(tmp_path: Path) -> SqlCatalog:
    catalog = SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=tmp_path.as_uri())
    for i in range(6):
        write_table(catalog, OUT, pa.table({"id": pa.array([i], pa.int64())}))
    return catalog


def ids(catalog: SqlCatalog) -> list[int]:
    return sorted(catalog.load_table("demo.t").scan().to_arrow()["id"].to_pylist())


def test_a_writer_committing_during_compaction_wins(catalog: SqlCatalog, tmp_path: Path) -> None:
    stale = catalog.load_table("demo.t")  # maintenance read main here
    tasks = small_files(stale, 1 << 20)
    write_table(catalog, OUT, pa.table({"id": pa.array([99], pa.int64())}))  # the writer commits meanwhile
    files_before = set(tmp_path.rglob("*.parquet"))
    with pytest.raises(MaintenanceConflict, match="gave way"):
        compact(stale, tasks, 1 << 20, {"akko.operation": "maintenance"})
    assert ids(catalog) == [0, 1, 2, 3, 4, 5, 99]
    assert set(tmp_path.rglob("*.parquet")) == files_before  # the rewrite's files are gone


def test_a_branch_cut_before_a_compaction_still_publishes(catalog: SqlCatalog) -> None:
    branch = audit_branch("p", "s")
    written = write_table(catalog, OUT, pa.table({"id": pa.array([7], pa.int64())}), branch=branch)
    table = catalog.load_table("demo.t")
    assert compact(table, small_files(table, 1 << 20), 1 << 20, {"akko.operation": "maintenance"}) == 1
    publish(catalog, "demo.t", branch, written.base_snapshot_id, written.snapshot_id)
    assert ids(catalog) == [0, 1, 2, 3, 4, 5, 7]
