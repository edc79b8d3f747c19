"""Quality checks on the cluster profile: every check kind passing and failing on Trino against an audit
snapshot (the same answers as on DuckDB), and write-audit-publish of a Trino `sql` step through `akko run`."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.cli import akko, cli_env  # noqa: E402
from tests.fixtures.stack_services import RunningStack  # noqa: E402
from tests.unit.test_quality import CASES, NOW, orders  # noqa: E402

from akko_orchestrator.spec.models import Check, Output  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
HERE = Path(__file__).parent


def _cluster(check: Check) -> Check:
    """The unit cases name demo.*; the shared cluster catalog's demo tables belong to the demo pipelines."""
    return Check.model_validate(
        json.loads(check.model_dump_json(exclude_none=True).replace("demo.", "quality."))
    )


@pytest.fixture(scope="module")
def cluster(cluster_stack: RunningStack) -> Iterator[dict[str, Any]]:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.engines.registry import create_engine
    from akko_orchestrator.lakehouse.writer import write_table

    root = copy_project(cluster_stack.state_dir.parent / "checks-project")
    for spec in (HERE / "pipelines").glob("cluster_quality_gate*.yaml"):
        shutil.copy(spec, root / "pipelines" / spec.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AKKO_STATE_DIR", str(cluster_stack.state_dir))
        for key, value in cluster_stack.env.items():
            patch.setenv(key, value)
        project = load_project(root, profile="cluster")
        from akko_orchestrator.lakehouse.catalog import open_catalog

        catalog = open_catalog(project)
        customers = pa.table({"id": pa.array([10, 11, 12], pa.int64())})
        write_table(catalog, Output(table="quality.customers", mode="overwrite"), customers)
        everyone = pa.concat_tables([customers, pa.table({"id": pa.array([99], pa.int64())})])
        write_table(catalog, Output(table="quality.all_customers", mode="overwrite"), everyone)
        table = Output(table="quality.orders", mode="overwrite")
        write_table(catalog, table, pa.concat_tables([orders(), orders()[:4]]))
        audited = write_table(catalog, table, orders(), branch="audit").snapshot_id
        trino = create_engine("trino", project, catalog)
        duckdb = create_engine("duckdb", project, catalog)
        yield {
            "root": root,
            "stack": cluster_stack,
            "catalog": catalog,
            "trino": trino,
            "duckdb": duckdb,
            "snapshot": audited,
        }
        trino.close()
        duckdb.close()


@pytest.mark.parametrize(("check", "passes", "failing"), CASES, ids=lambda v: getattr(v, "kind", None))
def test_every_check_kind_on_trino(cluster: dict[str, Any], check: Check, passes: bool, failing) -> None:
    from akko_orchestrator.quality.runner import run_checks

    check = _cluster(check)
    on_trino = run_checks(cluster["trino"], "quality.orders", [check], cluster["snapshot"], 10, now=NOW)
    [result] = on_trino.results
    assert result.passed is passes, result
    assert result.failing_rows == failing
    if not passes and failing:
        assert result.sample and result.sample["rows"]
    on_duckdb = run_checks(cluster["duckdb"], "quality.orders", [check], cluster["snapshot"], 10, now=NOW)
    assert on_duckdb.results[0].observed == result.observed  # the same measure on both engines


def test_wap_of_a_trino_step_keeps_main_when_checks_fail(cluster: dict[str, Any]) -> None:
    env = cli_env(cluster["root"], cluster["stack"].state_dir)
    good = akko("run", "cluster_quality_gate", "--profile", "cluster", env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "3 passed" in good.stdout
    table = cluster["catalog"].load_table("quality.gate")
    before = table.current_snapshot().snapshot_id
    assert table.current_snapshot().summary["akko.pipeline"] == "cluster_quality_gate"

    bad = akko("run", "cluster_quality_gate_bad", "--profile", "cluster", env=env)
    output = bad.stdout + bad.stderr
    assert bad.returncode == 1, output
    assert "2 check(s) failed on quality.gate: unique_id, accepted_values_region" in output
    assert "WARN" in output and "range_amount" in output  # a warning is reported, not blocking
    table = cluster["catalog"].load_table("quality.gate")
    assert table.current_snapshot().snapshot_id == before
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2]
    branch = table.scan().use_ref("akko_audit__cluster_quality_gate_bad__load").to_arrow()
    assert sorted(branch.column("id").to_pylist()) == [1, 1, 3]


def test_the_check_statement_runs_with_a_mark_distinct_plan_on_trino(cluster: dict[str, Any]) -> None:
    """Only the checks' statement gets the session property; the connection's other queries keep Trino's default."""
    show = "SHOW SESSION LIKE 'distinct_aggregations_strategy'"
    tuned = cluster["trino"].query_aggregates(show, []).to_pylist()[0]
    plain = cluster["trino"].query(show, []).to_pylist()[0]
    assert tuned["Value"] == "mark_distinct"
    assert plain["Value"] == plain["Default"]
