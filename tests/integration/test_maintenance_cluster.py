"""Iceberg maintenance on the cluster profile: 200 small appends written through pyiceberg into the stack's shared
JDBC catalog, then the `akko_maintenance` DAG (real Airflow, in its own process) maintains the table through
Trino's `ALTER TABLE ... EXECUTE optimize / optimize_manifests / expire_snapshots / remove_orphan_files`: a few
files, the same query results on Trino before and after, and the run recorded on the table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.e2e.test_maintenance import APPENDS, small_appends  # noqa: E402
from tests.fixtures.cli import cli_env  # noqa: E402
from tests.fixtures.stack_services import RunningStack  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
TABLE = "maint.events"
SPEC = """\
pipeline: maint_events
owner: tests
team: demo
steps:
  - id: events
    kind: sql
    sql: SELECT 1 AS id
    output: {table: maint.events, mode: append}
"""
MAINTENANCE = """
maintenance:
  compact: {target_file_size: 64MB, min_input_files: 5}
"""
QUERIES = [
    "SELECT region, count(*) AS n, sum(amount) AS total, min(id) AS first FROM maint.events GROUP BY region "
    "ORDER BY region",
    "SELECT * FROM maint.events ORDER BY id",
]


def test_the_maintenance_dag_compacts_200_appends_through_trino(
    cluster_stack: RunningStack, tmp_path: Path
) -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.engines.registry import create_engine
    from akko_orchestrator.lakehouse.catalog import open_catalog

    root = copy_project(cluster_stack.state_dir.parent / "maintenance-project")
    for spec in (root / "pipelines").glob("*.yaml"):
        spec.unlink()
    (root / "pipelines" / "maint_events.yaml").write_text(SPEC)
    (root / "akko.yaml").write_text((root / "akko.yaml").read_text() + MAINTENANCE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AKKO_STATE_DIR", str(cluster_stack.state_dir))
        for key, value in cluster_stack.env.items():
            patch.setenv(key, value)
        project = load_project(root, profile="cluster")
        catalog = open_catalog(project)
        small_appends(catalog, TABLE, APPENDS)
        trino = create_engine("trino", project, catalog)
        try:
            before = [trino.query(sql, [TABLE]) for sql in QUERIES]
            env = cli_env(root, cluster_stack.state_dir, AKKO_PROFILE="cluster")
            out = tmp_path / "report.json"
            runner = _ROOT / "tests" / "fixtures" / "airflow_runner.py"
            done = subprocess.run(
                [sys.executable, str(runner), "--maintenance", str(out)],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            report = json.loads(out.read_text())
            assert report["state"] == "success", report
            [task] = [t for t in report["tasks"] if t["task_id"] == "maint__events"]
            result = task["result"]
            assert result["engine"] == "trino" and result["status"] == "done", result
            assert result["files_before"] >= APPENDS and result["files_after"] <= 3, result
            after = [trino.query(sql, [TABLE]) for sql in QUERIES]
        finally:
            trino.close()
        for old, new in zip(before, after, strict=True):
            assert new.equals(old)
        table = catalog.load_table(TABLE)
        assert table.properties["akko.last-maintenance-ops"].startswith(f"compact {result['compacted'][0]}->")
        assert table.properties["history.expire.min-snapshots-to-keep"] == "10"  # keep-last-K for Trino
