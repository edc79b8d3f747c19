"""`akko dev` end to end: real Airflow processes on a temporary state dir, the demo triggered through the REST API,
the asset-triggered mart it sets off, and a clean stop on SIGINT that leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.conftest import copy_project

from akko_orchestrator.local_airflow.api_client import ApiClient, free_port
from akko_orchestrator.local_airflow.dev import admin_password

pytestmark = pytest.mark.integration

READY_TIMEOUT = 300.0  # a cold start (new metadata DB) on a busy 2-core machine takes about a minute
RUN_TIMEOUT = 240.0
STOP_TIMEOUT = 90.0


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    project: Path
    state_dir: Path
    output: Path
    api: ApiClient

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def processes(self) -> set[int]:
        """Everything `akko dev` started that runs now (its children live in their own process groups)."""
        try:
            return {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    project = copy_project(tmp_path / "project")
    shutil.copytree(Path(__file__).parent / "dev_dags", project / "dags")  # a hand-written DAG and its helper
    with running_dev(
        project, tmp_path / "state", tmp_path / "akko-dev.out"
    ) as server:  # never the repo's .akko/
        yield server


@contextlib.contextmanager
def running_dev(project: Path, state: Path, output: Path, *args: str) -> Iterator[DevServer]:
    """`akko dev *args` on `project` with state folder `state` and a free port, its output in `output`; ready when
    entered, stopped (and anything it left killed) when left."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AKKO_"))}
    env.update(AKKO_STATE_DIR=str(state), AKKO_PROJECT_DIR=str(project), PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "-c",
        "from akko_orchestrator.cli.main import main; main()",
        "dev",
        "--port",
        str(port),
        *args,
    ]
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=output.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    seen: set[int] = set()
    try:
        _wait_for(lambda: "ready in" in output.read_text(), READY_TIMEOUT, process, output)
        password = admin_password(state / "airflow" / "simple_auth_manager_passwords.json")
        api = ApiClient(f"http://127.0.0.1:{port}", "admin", password)
        server = DevServer(process, project, state, output, api)
        yield server
        seen |= server.processes()
    finally:
        _stop(process, seen)


def _wait_for(
    condition: Callable[[], bool], timeout: float, process: subprocess.Popen[bytes], output: Path
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"akko dev exited with {process.returncode}:\n{output.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"akko dev not ready after {timeout:.0f} s:\n{output.read_text(errors='replace')}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes], seen: set[int]) -> None:
    """Safety net for a failed test: the test itself checks the real shutdown."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for pid in _alive(seen):
        os.kill(pid, signal.SIGKILL)


def _alive(pids: set[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def _left_behind(pids: set[int], settle: float = 5.0) -> list[str]:
    """The processes of `pids` still running after up to `settle` seconds, with their command lines: `akko dev`
    returns once its process groups are empty, but a process that left its group is not waited for."""
    give_up = time.monotonic() + settle
    while (alive := _alive(pids)) and time.monotonic() < give_up:
        time.sleep(0.2)
    described = []
    for pid in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            described.append(f"{pid} {' '.join(psutil.Process(pid).cmdline())[:200]}")
    return described


def _poll(get: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _trigger(api: ApiClient, dag_id: str) -> dict[str, Any] | None:
    """A new run of `dag_id`, once the dag-processor has parsed it (None before)."""
    try:
        return api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        return None


def _run_state(api: ApiClient, dag_id: str, run_id: str) -> str | None:
    state = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
    if state == "failed":
        tis = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        pytest.fail(f"{dag_id} failed: {[(t['task_id'], t['state']) for t in tis]}")
    return state if state == "success" else None


def _mart_run(api: ApiClient, source_run_id: str | None = None) -> dict[str, Any] | None:
    """A finished asset-triggered sales_by_region_mart run (one set off by `source_run_id`'s asset events, if
    given: a metadata DB shared with earlier runs may hold other ones)."""
    runs = api.call("GET", "/api/v2/dags/sales_by_region_mart/dagRuns")["dag_runs"]
    done = [r for r in runs if r["run_type"] == "asset_triggered" and r["state"] in ("success", "failed")]
    if source_run_id is not None:
        done = [
            r for r in done if source_run_id in _source_runs(api, "sales_by_region_mart", r["dag_run_id"])
        ]
    return done[0] if done else None


def _source_runs(api: ApiClient, dag_id: str, run_id: str) -> set[str]:
    """The runs whose asset events set off this run."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/upstreamAssetEvents"
    return {event.get("source_run_id") for event in api.call("GET", path)["asset_events"]}


def _table(server: DevServer, name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog

    monkeypatch.setenv("AKKO_STATE_DIR", str(server.state_dir))
    monkeypatch.setenv("AKKO_PROJECT_DIR", str(server.project))
    return open_catalog(load_project()).load_table(name).scan().to_arrow()


@pytest.mark.timeout(900)
def test_dev_runs_the_demo_and_the_asset_triggered_mart_then_stops_cleanly(
    dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = dev_server.api
    assert f"password {api.password}" in dev_server.text()  # the login printed is the one stored

    run = api.call("POST", "/api/v2/dags/akko_e2e_pipeline/dagRuns", {"logical_date": None})
    # dags/helper_dag.py imports dev_helpers.py beside it: parsed (the dag-processor) and run (a task process)
    helper = _poll(lambda: _trigger(api, "dev_helper_dag"), RUN_TIMEOUT, "the hand-written DAG's parse")
    _poll(lambda: _run_state(api, "akko_e2e_pipeline", run["dag_run_id"]), RUN_TIMEOUT, "the demo run")
    _poll(lambda: _run_state(api, "dev_helper_dag", helper["dag_run_id"]), RUN_TIMEOUT, "the helper DAG run")
    xcom = f"/api/v2/dags/dev_helper_dag/dagRuns/{urllib.parse.quote(helper['dag_run_id'], safe='')}"
    greeting = api.call("GET", f"{xcom}/taskInstances/greet/xcomEntries/return_value")["value"]
    assert greeting == "hello from dev_helpers"
    assert _table(dev_server, "demo.sales", monkeypatch).num_rows == 12

    # sales_by_region_mart is scheduled on the asset demo.sales, which the demo's transform_sales updated.
    mart = _poll(lambda: _mart_run(api), RUN_TIMEOUT, "the asset-triggered sales_by_region_mart run")
    assert mart["state"] == "success"
    regions = _table(dev_server, "marts.revenue_by_region", monkeypatch)
    assert sorted(regions.column("region").to_pylist()) == ["APAC", "EU", "US"]

    children = dev_server.processes()
    assert len(children) >= 4, "api-server, dag-processor, scheduler and triggerer at least"
    dev_server.process.send_signal(signal.SIGINT)
    assert dev_server.process.wait(STOP_TIMEOUT) == 0, dev_server.text()
    assert "stopped" in dev_server.text()
    assert _left_behind(children) == [], "processes left behind after Ctrl-C"
