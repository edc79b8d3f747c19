"""`akko dev --profile cluster` on the engines `akko stack` runs: Airflow's api-server, scheduler, dag-processor and
triggerer on the stack's PostgreSQL metadata DB (AKKO_AIRFLOW_DB), LocalExecutor, the DAGs compiled for the
`cluster` profile, and tasks reaching Spark Connect and Trino through the stack's env file.

The demo is triggered through the REST API; its asset-triggered mart follows; SIGINT leaves no process behind.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.stack_services import RunningStack  # noqa: E402
from tests.integration.test_dev import (  # noqa: E402
    RUN_TIMEOUT,
    STOP_TIMEOUT,
    DevServer,
    _left_behind,
    _mart_run,
    _poll,
    _run_state,
    running_dev,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
DAG = "akko_e2e_pipeline"
PARSE_TIMEOUT = 180  # the dag-processor re-parses every file on start


@pytest.fixture
def cluster_dev(cluster_stack: RunningStack) -> Iterator[DevServer]:
    # The project's state folder is the stack's, so `--profile cluster` finds <state>/stack/stack.env by itself.
    base = cluster_stack.state_dir.parent
    project = copy_project(base / "dev-project")
    started = time.monotonic()
    with running_dev(
        project, cluster_stack.state_dir, base / "akko-dev-cluster.out", "--profile", "cluster"
    ) as dev:
        print(f"\nakko dev --profile cluster ready after {time.monotonic() - started:.1f} s")
        yield dev


@contextlib.contextmanager
def _task_logs_on_failure(dev: DevServer) -> Iterator[None]:
    """A failed wait also shows the end of every task log with an error (the state folder goes with the stack)."""
    try:
        yield
    except BaseException as exc:  # pytest.fail raises an outcome, not an Exception
        logs = sorted((dev.state_dir / "airflow" / "logs").glob("dag_id=*/run_id=*/task_id=*/**/*.log"))
        tails = [
            f"--- {log.relative_to(dev.state_dir)}\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            for log in logs
            if '"level":"error"' in log.read_text(errors="replace")
        ]
        raise AssertionError(f"{exc}\n" + "\n".join(tails)) from exc


def _dag_runs_in_postgres(stack: RunningStack, dag_id: str) -> dict[str, str]:
    """run_id -> state, straight from the stack's Airflow metadata DB."""
    import sqlalchemy as sa

    engine = sa.create_engine(stack.env["AKKO_AIRFLOW_DB"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT run_id, state FROM dag_run WHERE dag_id = :d"), {"d": dag_id})
            return {run_id: state for run_id, state in rows}
    finally:
        engine.dispose()


def test_dev_on_the_cluster_profile_runs_the_demo_on_the_stack(
    cluster_dev: DevServer, cluster_stack: RunningStack
) -> None:
    api = cluster_dev.api

    # The DAG compiled for `cluster`: the Spark transform, not the embedded ingest and SQL transform. The metadata
    # DB is the session stack's, shared with other tests' runs (one on a profile of its own compiles this DAG
    # without either transform), so this waits for dev's dag-processor to store its own parse.
    def cluster_tasks() -> set[str] | None:
        found = {t["task_id"] for t in api.call("GET", f"/api/v2/dags/{DAG}/tasks")["tasks"]}
        return found if "transform_sales_spark" in found else None

    tasks = _poll(cluster_tasks, PARSE_TIMEOUT, f"{DAG} compiled for the cluster profile")
    assert "verify_sales" in tasks, tasks
    assert not any(t.split(".")[0] in ("land_sales", "transform_sales") for t in tasks), tasks

    started = time.monotonic()
    run = api.call("POST", f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None})
    run_id = run["dag_run_id"]
    with _task_logs_on_failure(cluster_dev):
        _poll(lambda: _run_state(api, DAG, run_id), RUN_TIMEOUT, "the demo run")
    print(f"\n{DAG} succeeded after {time.monotonic() - started:.1f} s")
    states = {
        t["task_id"]: t["state"]
        for t in api.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    }
    assert states.get("transform_sales_spark") == "success" and states.get("verify_sales") == "success", (
        states
    )

    # Airflow's metadata DB is the stack's PostgreSQL, not a SQLite file under the state folder.
    assert _dag_runs_in_postgres(cluster_stack, DAG).get(run_id) == "success"

    # sales_by_region_mart is scheduled on the asset demo.sales, which transform_sales_spark updated.
    with _task_logs_on_failure(cluster_dev):
        mart = _poll(
            lambda: _mart_run(api, run_id), RUN_TIMEOUT, "the asset-triggered sales_by_region_mart run"
        )
    assert mart["state"] == "success"
    assert _dag_runs_in_postgres(cluster_stack, "sales_by_region_mart").get(mart["dag_run_id"]) == "success"

    children = cluster_dev.processes()
    assert len(children) >= 4, "api-server, dag-processor, scheduler and triggerer at least"
    cluster_dev.process.send_signal(signal.SIGINT)
    assert cluster_dev.process.wait(STOP_TIMEOUT) == 0, cluster_dev.text()
    assert "stopped" in cluster_dev.text()
    assert _left_behind(children) == [], "processes left behind after Ctrl-C"
