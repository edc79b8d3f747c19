"""`akko dev` against stock `airflow standalone`: same machine, same DAG folder of shims, measured in turns.

Measured for each, with the same method:
  (a) ready: from starting the command until the API answers, the scheduler heartbeats and every pipeline file
      is parsed (DAG or import error newer than the start): twice on a fresh metadata DB (cold, in the order
      akko, stock, stock, akko so that drifting machine load cancels out) and once on the DB left (warm);
  (b) gap: end_date of a task -> start_date of the task depending on it, from the REST API's task instances,
      over a few runs of a 4-step chain pipeline.
Stock keeps Airflow's defaults except what a second Airflow on a shared machine needs (free ports, its own
AIRFLOW_HOME, DAG folder, no example DAGs) and unpausing the benchmark DAG (stock creates DAGs paused). Both run
in the benchmarks' isolated environment (_common.isolated_env: quiet logs, one bytecode cache, compiled before
timing), so neither pays for compiling Airflow while timed.

Run: uv run python benchmarks/bench_dev.py [--cold-only]   (logs of the last run: benchmarks/.work/dev/)
(about 2 minutes, at most BUDGET; every process started is stopped, even on error)
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from akko_orchestrator.compiler.shims import sync_shims
from akko_orchestrator.local_airflow.api_client import ApiClient, free_port
from akko_orchestrator.local_airflow.dev import Component, stop_components
from akko_orchestrator.local_airflow.dev_ready import not_ready

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, isolated_env  # noqa: E402
from _common import WORK as BENCH_WORK  # noqa: E402

WORK = BENCH_WORK / "dev"  # git-ignored; project, state dirs and logs of the last run stay here
BIN = Path(sys.executable).parent
DAG_ID = "bench_chain"
STEPS = ("a", "b", "c", "d")
RUNS = 3
READY_TIMEOUT = 240.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 40.0
BUDGET = 600.0  # the whole benchmark gives up after this (typically it takes about 2 minutes)
_budget_end = float("inf")
# ABBA: a linear drift in the load other users put on the machine cancels out in each system's mean.
COLD_ORDER = ("akko", "stock", "stock", "akko")
WARM_ORDER = ("stock", "akko")  # each on the DB its last cold start left
FROM_REPO = ("akko_e2e_pipeline.yaml", "sales_by_region_mart.yaml", "demo_functions.py")


def measure(runs: int = RUNS, warm: bool = True) -> dict[str, Any]:
    """Figures for both systems and their ratios (akko / stock), measured in this call."""
    global _budget_end
    _budget_end = time.monotonic() + BUDGET
    shutil.rmtree(WORK, ignore_errors=True)
    project = _make_project(WORK / "project")
    dags = WORK / "stock-dags"  # the same shims akko dev writes into its own state dir
    sync_shims(project / "pipelines", dags, project)
    shims = sorted(p.name for p in dags.glob("*.py"))
    _warm_bytecode()
    launchers: dict[str, Callable[[Path, int], Launch]] = {
        "akko": lambda home, port: _akko(home, project, port),
        "stock": lambda home, port: _stock(home, dags, port),
    }
    homes: dict[str, Path] = {}  # each system's latest state dir / AIRFLOW_HOME
    figures = _cold_starts(launchers, homes, shims, runs)
    if warm:
        for name in WARM_ORDER:
            launch = functools.partial(launchers[name], homes[name])
            figures[name]["ready_warm_s"] = _ready_once(launch, WORK / f"{name}.log", shims)
    return {**figures, **_compare(figures["akko"], figures["stock"])}


def _cold_starts(
    launchers: dict[str, Callable[[Path, int], Launch]], homes: dict[str, Path], shims: list[str], runs: int
) -> dict[str, dict[str, Any]]:
    """Cold starts in COLD_ORDER, each on a new state dir; the first one of each system also times the gaps."""
    figures: dict[str, dict[str, Any]] = {name: {"ready_cold_runs_s": []} for name in launchers}
    for index, name in enumerate(COLD_ORDER):
        homes[name] = WORK / f"{name}-{index}"
        first = "gap_median_s" not in figures[name]
        launch = functools.partial(launchers[name], homes[name])
        ready, gaps = _cold(launch, WORK / f"{name}.log", shims, runs if first else 0)
        figures[name]["ready_cold_runs_s"].append(ready)
        figures[name].update(_gap_figures(gaps) if gaps else {})
    for figure in figures.values():
        figure["ready_cold_s"] = round(statistics.fmean(figure["ready_cold_runs_s"]), 2)
    return figures


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


# command, environment, reader of the admin password (None until written), whether the DAG must be unpaused
Launch = tuple[list[str], dict[str, str], Callable[[], str | None], bool]


def _env(airflow_home: Path, dags: Path | None = None, **extra: str) -> dict[str, str]:
    """The benchmarks' isolated environment (shared bytecode cache, no inherited Airflow or AKKO settings), with
    the venv first on PATH: standalone starts its components as `airflow`."""
    env = isolated_env(airflow_home, dags, PYTHONUNBUFFERED="1", **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _akko(state: Path, project: Path, port: int) -> Launch:
    env = _env(state / "airflow", AKKO_PROJECT_DIR=str(project), AKKO_STATE_DIR=str(state))
    passwords = state / "airflow" / "simple_auth_manager_passwords.json"
    command = [str(BIN / "akko"), "dev", "--port", str(port)]
    return command, env, lambda: _read_password(passwords), False


def _stock(home: Path, dags: Path, port: int) -> Launch:
    env = _env(
        home,
        dags,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AKKO_STATE_DIR=str(home / "akko-state"),  # where the tasks' lakehouse would live
    )
    passwords = home / "simple_auth_manager_passwords.json.generated"
    return [str(BIN / "airflow"), "standalone"], env, lambda: _read_password(passwords), True


def _warm_bytecode() -> None:
    """Compile what both systems import into the shared bytecode cache, so that neither pays for it when timed."""
    modules = (
        "airflow.api_fastapi.main",
        "airflow.jobs.scheduler_job_runner",
        "airflow.dag_processing.manager",
        "airflow.jobs.triggerer_job_runner",
        "airflow.cli.commands.standalone_command",
        "airflow.sdk.execution_time.task_runner",
        "akko_orchestrator.cli.main",
        "akko_orchestrator.compiler.dag_builder",
        "akko_orchestrator.operators.steps",
    )
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    env = _env(WORK / "warm-up")
    subprocess.run([sys.executable, "-c", code, *modules], env=env, check=True, capture_output=True)


def _read_password(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("admin")
    except (OSError, ValueError):
        return None


# One system -------------------------------------------------------------------------------------------------------


def _cold(
    launch: Callable[[int], Launch], log: Path, shims: list[str], runs: int
) -> tuple[float, list[float]]:
    """Start on a fresh metadata DB, time readiness, then time the gaps of `runs` chain runs."""
    port = free_port()
    spec = launch(port)
    with _started(spec, log) as (started, since, api_for):
        api = _wait_ready(api_for, shims, since, port, log)
        ready = round(time.monotonic() - started, 2)
        gaps = _gaps(api, runs, unpause=spec[3]) if runs else []
    return ready, gaps


def _ready_once(launch: Callable[[int], Launch], log: Path, shims: list[str]) -> float:
    """Start again on the DB left by the cold start and time readiness."""
    port = free_port()
    with _started(launch(port), log) as (started, since, api_for):
        _wait_ready(api_for, shims, since, port, log)
        return round(time.monotonic() - started, 2)


def _deadline(timeout: float) -> float:
    return min(time.monotonic() + timeout, _budget_end)


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
    deadline = _deadline(READY_TIMEOUT)
    while time.monotonic() < deadline:
        api = api_for(port)
        if api is not None and not not_ready(api, shims, since):
            return api
        time.sleep(0.25)
    raise TimeoutError(f"not ready in time (limit {READY_TIMEOUT:.0f} s, budget {BUDGET:.0f} s); see {log}")


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
    deadline = _deadline(RUN_TIMEOUT)
    while time.monotonic() < deadline:
        state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        if state == "success":
            return
        if state == "failed":
            raise RuntimeError(f"{DAG_ID} run {run_id} failed")
        time.sleep(0.5)
    raise TimeoutError(f"{DAG_ID} run {run_id} not done in time (limit {RUN_TIMEOUT:.0f} s)")


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


def report(figures: dict[str, Any]) -> str:
    """A table of the headline figures (run_all.py prints it too)."""
    akko, stock, ratio = figures["akko"], figures["stock"], figures["ratio_akko_over_stock"]
    lines = [f"{'':22}{'akko dev':>10}{'stock':>10}{'akko/stock':>12}"]
    for key in ("ready_cold_s", "ready_warm_s", "gap_median_s", "gap_mean_s", "gap_max_s"):
        if key in akko and key in stock:
            share = ratio.get(key.removesuffix("_s"), "")
            lines.append(f"{key:22}{akko[key]:>10}{stock[key]:>10}{share!s:>12}")
    lines.append("goals met: " + ", ".join(f"{k}={v}" for k, v in figures["goals_met"].items()))
    return "\n".join(lines)


def main() -> None:
    # SIGTERM raises SystemExit, so the `finally` blocks stopping every started process still run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    figures = measure(warm="--cold-only" not in sys.argv[1:])
    print(report(figures))
    print(f"(benchmark took {time.monotonic() - began:.0f} s)")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
