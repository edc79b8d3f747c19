"""`akko dev` against stock `airflow standalone`: same machine, same DAG folder of shims, one after the other.

Measured for each, with the same method:
  (a) ready: from starting the command until the API answers, the scheduler heartbeats and every pipeline file
      is parsed (DAG or import error newer than the start), on a fresh metadata DB (cold) and again on the DB
      the first start left (warm);
  (b) gap: end_date of a task -> start_date of the task depending on it, from the REST API's task instances,
      over a few runs of a 4-step chain pipeline.
Stock keeps Airflow's defaults except what a second Airflow on a shared machine needs (free ports, its own
AIRFLOW_HOME, DAG folder, no example DAGs) and unpausing the benchmark DAG (stock creates DAGs paused).

Run: uv run python benchmarks/bench_dev.py   (a few minutes; every process started is stopped, even on error)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from akko_orchestrator.compiler.shims import sync_shims
from akko_orchestrator.local_airflow.dev import ApiClient, Component, free_port, not_ready, stop_components

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "bench_chain"
STEPS = ("a", "b", "c", "d")
RUNS = 3
READY_TIMEOUT = 240.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 40.0
FROM_REPO = ("akko_e2e_pipeline.yaml", "sales_by_region_mart.yaml", "demo_functions.py")


def measure(runs: int = RUNS, warm: bool = True) -> dict[str, Any]:
    """Figures for both systems and their ratios (akko / stock), measured in this call."""
    with tempfile.TemporaryDirectory(prefix="akko-bench-") as tmp:
        work = Path(tmp)
        project = _make_project(work / "project")
        dags = work / "akko-state" / "dags"
        sync_shims(project / "pipelines", dags, project)
        shims = sorted(p.name for p in dags.glob("*.py"))
        # akko first: anything warmed up by the first system (page cache) favours the second one.
        akko = _measure_system(lambda port: _akko(work, project, port), shims, runs, warm, work / "akko.log")
        stock = _measure_system(lambda port: _stock(work, dags, port), shims, runs, warm, work / "stock.log")
    return {"akko": akko, "stock": stock, **_compare(akko, stock)}


def _compare(akko: dict[str, Any], stock: dict[str, Any]) -> dict[str, Any]:
    keys = [
        k for k in ("ready_cold_s", "ready_warm_s", "gap_median_s", "gap_mean_s") if k in akko and k in stock
    ]
    ratio = {k.removesuffix("_s"): round(akko[k] / stock[k], 3) for k in keys if stock[k]}
    goals = {
        "ready_no_slower_than_stock": ratio.get("ready_cold", 9) <= 1.0 and ratio.get("ready_warm", 0) <= 1.0,
        "gap_at_most_half_of_stock": ratio.get("gap_median", 9) <= 0.5,
    }
    return {"ratio_akko_over_stock": ratio, "goals_met": goals}


# The systems ------------------------------------------------------------------------------------------------------


Launch = tuple[
    list[str], dict[str, str], Callable[[], str | None], bool
]  # command, env, password, must unpause


def _base_env() -> dict[str, str]:
    """This environment without anyone's Airflow settings, the venv first on PATH (standalone runs `airflow`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AKKO_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _akko(work: Path, project: Path, port: int) -> Launch:
    env = {**_base_env(), "AKKO_PROJECT_DIR": str(project), "AKKO_STATE_DIR": str(work / "akko-state")}
    passwords = work / "akko-state" / "airflow" / "simple_auth_manager_passwords.json"
    command = [str(BIN / "akko"), "dev", "--port", str(port)]
    return command, env, lambda: _read_password(passwords), False


def _stock(work: Path, dags: Path, port: int) -> Launch:
    home = work / "stock-home"
    env = {
        **_base_env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AKKO_STATE_DIR": str(work / "stock-state"),  # where the tasks' lakehouse would live
    }
    passwords = home / "simple_auth_manager_passwords.json.generated"
    return [str(BIN / "airflow"), "standalone"], env, lambda: _read_password(passwords), True


def _read_password(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("admin")
    except (OSError, ValueError):
        return None


# One system -------------------------------------------------------------------------------------------------------


def _measure_system(
    launch: Callable[[int], Launch], shims: list[str], runs: int, warm: bool, log: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    port = free_port()
    spec = launch(port)
    with _started(spec, log) as (started, since, api_for):
        api = _wait_ready(api_for, shims, since, port, log)
        result["ready_cold_s"] = round(time.monotonic() - started, 2)
        gaps = _gaps(api, runs, unpause=spec[3])
    result.update(_gap_figures(gaps))
    if warm:
        port = free_port()
        with _started(launch(port), log) as (started, since, api_for):
            _wait_ready(api_for, shims, since, port, log)
            result["ready_warm_s"] = round(time.monotonic() - started, 2)
    return result


@contextmanager
def _started(spec: Launch, log: Path):
    """Start a command in its own process group; on exit stop it and anything it started, whatever happened."""
    command, env, password, _ = spec
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    component = Component(Path(command[0]).name, process, log)
    seen: set[int] = set()

    def api_for(port: int) -> ApiClient | None:
        seen.update(_descendants(process.pid))
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited with {process.returncode}; see {log}")
        secret = password()
        return ApiClient(f"http://127.0.0.1:{port}", "admin", secret) if secret else None

    try:
        yield time.monotonic(), datetime.now(UTC), api_for
        seen.update(_descendants(process.pid))
    finally:
        stop_components([component], timeout=STOP_TIMEOUT)
        _kill_leftovers(seen)


def _descendants(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _kill_leftovers(pids: set[int]) -> None:
    """Processes the command started and did not stop (akko dev's children live in their own groups)."""
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                print(f"warning: killing leftover process {pid} {proc.name()}", file=sys.stderr)
                proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue


def _wait_ready(
    api_for: Callable[[int], ApiClient | None], shims: list[str], since: datetime, port: int, log: Path
) -> ApiClient:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        api = api_for(port)
        if api is not None and not not_ready(api, shims, since):
            return api
        time.sleep(0.25)
    raise TimeoutError(f"not ready after {READY_TIMEOUT:.0f} s; see {log}")


def _gaps(api: ApiClient, runs: int, unpause: bool) -> list[float]:
    if unpause:
        api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    gaps: list[float] = []
    for _ in range(runs):
        run_id = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})["dag_run_id"]
        _wait_run(api, run_id)
        tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
        by_id = {ti["task_id"]: ti for ti in tis}
        for upstream, downstream in zip(STEPS, STEPS[1:], strict=False):
            end = datetime.fromisoformat(by_id[upstream]["end_date"])
            start = datetime.fromisoformat(by_id[downstream]["start_date"])
            gaps.append((start - end).total_seconds())
    return gaps


def _wait_run(api: ApiClient, run_id: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        if state == "success":
            return
        if state == "failed":
            raise RuntimeError(f"{DAG_ID} run {run_id} failed")
        time.sleep(0.5)
    raise TimeoutError(f"{DAG_ID} run {run_id} not done after {RUN_TIMEOUT:.0f} s")


def _gap_figures(gaps: list[float]) -> dict[str, Any]:
    return {
        "gap_median_s": round(statistics.median(gaps), 3),
        "gap_mean_s": round(statistics.fmean(gaps), 3),
        "gap_max_s": round(max(gaps), 3),
        "gaps_s": [round(g, 3) for g in gaps],
    }


# The benchmark project --------------------------------------------------------------------------------------------


def _make_project(root: Path) -> Path:
    """The demo and mart specs from the repo plus a 4-step chain of no-op Python steps."""
    pipelines = root / "pipelines"
    pipelines.mkdir(parents=True)
    (root / "akko.yaml").write_text("project: bench\nlakehouse: akko\npipelines: pipelines\n")
    for name in FROM_REPO:
        shutil.copy(REPO / "pipelines" / name, pipelines / name)
    (pipelines / "bench_functions.py").write_text("def noop() -> dict:\n    return {'ok': True}\n")
    steps = []
    for index, step in enumerate(STEPS):
        after = f"\n    after: [{STEPS[index - 1]}]" if index else ""
        steps.append(f"  - id: {step}\n    kind: python\n    function: bench_functions:noop{after}")
    spec = (
        f"pipeline: {DAG_ID}\nowner: bench\nteam: bench\nschedule: manual\nsteps:\n" + "\n".join(steps) + "\n"
    )
    (pipelines / f"{DAG_ID}.yaml").write_text(spec)
    return root


def main() -> None:
    began = time.monotonic()
    figures = measure()
    akko, stock, ratio = figures["akko"], figures["stock"], figures["ratio_akko_over_stock"]
    print(f"{'':22}{'akko dev':>10}{'stock':>10}{'akko/stock':>12}")
    for key in ("ready_cold_s", "ready_warm_s", "gap_median_s", "gap_mean_s", "gap_max_s"):
        if key in akko and key in stock:
            share = ratio.get(key.removesuffix("_s"), "")
            print(f"{key:22}{akko[key]:>10}{stock[key]:>10}{share!s:>12}")
    print("goals met:", ", ".join(f"{k}={v}" for k, v in figures["goals_met"].items()))
    print(f"(benchmark took {time.monotonic() - began:.0f} s)")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
