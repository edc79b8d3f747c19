"""Executors: 200 independent short tasks on Celery (2 workers) and on LocalExecutor, against `airflow standalone`.

Three Airflows run the same DAG (200 independent tasks, each returning its number), one after the other:
  stock   `airflow standalone` with Airflow's defaults (LocalExecutor, SQLite, parallelism 32); only what a second
          Airflow on a shared machine needs is set (own AIRFLOW_HOME, free ports, no example DAGs);
  celery  `akko stack up --celery`: PostgreSQL, Redis, api-server, scheduler, dag-processor, triggerer and two
          Celery workers (concurrency 2 each: 4 task slots on this 2-core machine);
  local   the same stack settings and PostgreSQL DB, LocalExecutor with parallelism 4 (the same 4 slots).
For each: throughput (tasks per second from the DAG run's start to its last task's end), that makespan, and the
scheduling latency per task (queued -> start), median and p95, from the task instances in the REST API. Ratios are
against stock, measured in the same invocation.

Run: uv run python benchmarks/bench_executors.py [--runs N] [--tasks N]   (~6 min; results under
benchmarks/results/executors-*.json; logs of the last run under benchmarks/.work/executors/)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from _common import REPO, isolated_env, table  # noqa: E402
from _common import WORK as BENCH_WORK  # noqa: E402

WORK = BENCH_WORK / "executors"
RESULTS = REPO / "benchmarks" / "results"
BIN = Path(sys.executable).parent
DAG_ID = "bench_executors"
TASKS = 200
READY_TIMEOUT = 300.0
RUN_TIMEOUT = 900.0

DAG_FILE = """\
import datetime as dt

from airflow.sdk import dag, task


@task
def short(i: int) -> int:
    return i


@dag(dag_id="{dag_id}", schedule=None, start_date=dt.datetime(2024, 1, 1), catchup=False)
def bench_executors():
    for i in range({tasks}):
        short.override(task_id=f"t{{i:03d}}")(i)


bench_executors()
"""


def measure(runs: int = 1, tasks: int = TASKS) -> dict[str, Any]:
    from akko_orchestrator.local_airflow.api_client import ApiClient, free_port

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.chmod(WORK, 0o711)  # as root, PostgreSQL runs as `postgres` and must reach its folder
    dags = WORK / "dags"
    dags.mkdir()
    (dags / "bench_executors.py").write_text(DAG_FILE.format(dag_id=DAG_ID, tasks=tasks))
    figures: dict[str, Any] = {"tasks": tasks, "runs": runs, "machine": _machine(), "samples": {}}
    samples: dict[str, list[dict[str, float]]] = figures["samples"]

    # stock: airflow standalone on SQLite
    home = WORK / "stock"
    port = free_port()
    env = isolated_env(
        home,
        dags,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
    )
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    with _process([str(BIN / "airflow"), "standalone"], env, home / "standalone.log") as proc:
        began = time.monotonic()
        password = _wait(
            lambda: _password(home / "simple_auth_manager_passwords.json.generated"), READY_TIMEOUT, proc
        )
        api = ApiClient(f"http://127.0.0.1:{port}", "admin", password)
        _wait(lambda: _dag_ready(api), READY_TIMEOUT, proc)
        figures["stock_ready_s"] = round(time.monotonic() - began, 1)
        samples["stock"] = [_one_run(api) for _ in range(runs)]

    # celery and local: the stack
    project = WORK / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "akko.yaml").write_text("project: bench-executors\nlakehouse: akko\nprofile: local\n")
    state = WORK / "state"
    (state / "dags").mkdir(parents=True)
    shutil.copy(dags / "bench_executors.py", state / "dags" / "bench_executors.py")
    saved = dict(os.environ)
    os.environ.update(AKKO_PROJECT_DIR=str(project), AKKO_STATE_DIR=str(state), AKKO_PROFILE="local")
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow.dev import admin_password, start_components, stop_components
    from akko_orchestrator.stack.manager import StackOptions, build_stack

    manager = build_stack(load_project(), StackOptions(engines=False, celery=True))
    try:
        began = time.monotonic()
        statuses = manager.up()
        figures["celery_stack_up_s"] = round(time.monotonic() - began, 1)
        figures["celery_startup_s"] = {s.name: round(s.startup_seconds or 0, 1) for s in statuses}
        airflow = next(s for s in manager.services if s.name == "airflow-api-server").stack  # type: ignore[attr-defined]
        password = admin_password(state / "airflow" / "simple_auth_manager_passwords.json")
        api = ApiClient(airflow.api_url, "admin", password)
        _wait(lambda: _dag_ready(api), READY_TIMEOUT, None)
        samples["celery"] = [_one_run(api) for _ in range(runs)]
        env = dict(airflow.environment())
        for service in reversed(manager.services):
            if service.name not in ("postgres", "redis"):
                service.stop()
        port = free_port()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            }
        )
        logs = WORK / "local-logs"
        logs.mkdir()
        components = start_components(
            env, "127.0.0.1", port, logs, ("api-server", "scheduler", "dag-processor")
        )
        try:
            api = ApiClient(f"http://127.0.0.1:{port}", "admin", password)
            began = time.monotonic()
            _wait(lambda: _dag_ready(api), READY_TIMEOUT, None)
            figures["local_ready_s"] = round(time.monotonic() - began, 1)
            samples["local"] = [_one_run(api) for _ in range(runs)]
        finally:
            stop_components(components)
    finally:
        manager.down()
        os.environ.clear()
        os.environ.update(saved)

    figures["median"] = {name: _medians(runs_) for name, runs_ in samples.items()}
    stock = figures["median"]["stock"]
    figures["ratio_vs_stock"] = {
        name: {key: round(value / stock[key], 3) if stock.get(key) else None for key, value in med.items()}
        for name, med in figures["median"].items()
        if name != "stock"
    }
    return figures


def _one_run(api: Any) -> dict[str, float]:
    run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    run_id = run["dag_run_id"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        if state["state"] in ("success", "failed"):
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"{DAG_ID} run {run_id} did not finish within {RUN_TIMEOUT:.0f} s")
    if state["state"] != "success":
        raise RuntimeError(f"{DAG_ID} run {run_id} failed")
    tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=1000")[
        "task_instances"
    ]
    start = _ts(state["start_date"])
    ends = [_ts(t["end_date"]) for t in tis]
    latency = sorted(_ts(t["start_date"]) - _ts(t["queued_when"]) for t in tis)
    makespan = max(ends) - start
    return {
        "makespan_s": round(makespan, 2),
        "tasks_per_s": round(len(tis) / makespan, 2),
        "queued_to_start_median_s": round(statistics.median(latency), 3),
        "queued_to_start_p95_s": round(latency[int(0.95 * (len(latency) - 1))], 3),
        "first_task_start_s": round(min(_ts(t["start_date"]) for t in tis) - start, 2),
    }


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).astimezone(UTC).timestamp()


def _dag_ready(api: Any) -> bool:
    try:
        api.call("GET", f"/api/v2/dags/{DAG_ID}")
        api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        health = api.call("GET", "/api/v2/monitor/health")
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return health.get("scheduler", {}).get("status") == "healthy"


def _password(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("admin")
    except (OSError, ValueError):
        return None


def _wait(get: Callable[[], Any], timeout: float, proc: subprocess.Popen[bytes] | None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        value = get()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"not ready within {timeout:.0f} s")


class _process:
    """A command in its own process group, stopped (SIGTERM, then SIGKILL) with everything it started."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path):
        self.command, self.env, self.log = command, env, log

    def __enter__(self) -> subprocess.Popen[bytes]:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self.proc

    def __exit__(self, *exc: object) -> None:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                time.sleep(1)  # children of the group
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return {"cpus": os.cpu_count(), "load": os.getloadavg(), "commit": commit.stdout.strip()}


def report(figures: dict[str, Any]) -> str:
    keys = list(figures["median"]["stock"])
    rows = [[key, *(figures["median"][n].get(key) for n in ("stock", "local", "celery"))] for key in keys]
    rows += [
        [
            f"{key} ratio",
            "1",
            figures["ratio_vs_stock"].get("local", {}).get(key),
            figures["ratio_vs_stock"]["celery"][key],
        ]
        for key in keys
    ]
    return table(["figure", "stock standalone", "local (4 slots)", "celery (2x2)"], rows)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=TASKS)
    args = parser.parse_args()
    began = time.monotonic()
    figures = measure(runs=args.runs, tasks=args.tasks)
    figures["benchmark_s"] = round(time.monotonic() - began)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"executors-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(report(figures))
    print(f"(benchmark took {figures['benchmark_s']} s; {out})")


if __name__ == "__main__":
    main()
