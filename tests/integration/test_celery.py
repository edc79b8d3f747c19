"""Airflow scaled out with CeleryExecutor (`akko stack up --celery`), for real: the stack's PostgreSQL (Airflow's
DB), Redis, api-server, scheduler, dag-processor, triggerer and two Celery workers, all
started by the stack manager and stopped at the end with no process left.

Tasks run with the demo's `local` profile: the embedded lakehouse (pyiceberg's catalog on SQLite, DuckDB) in the
project's state folder, which both workers share on this machine. The executor is what is under test: no Trino or
Spark is started (CI time), and the exactly-once guard reads the same snapshot history on every profile.

- the demo pipeline and a 50-task fan-out run to success, spread over both workers (task instances' hostnames);
- a worker SIGKILLed mid-task: its task is retried on the other worker, the table has its rows once and one
  publish in its history;
- Redis down: tasks triggered meanwhile fail to be sent with a clear error and run once it is back (retries);
- no secret (Redis password, DB passwords, the Airflow admin's password) in any log or in `akko stack status`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.cli import akko, cli_env  # noqa: E402
from tests.fixtures.stack_services import _alive  # noqa: E402

from akko_orchestrator.config.project import load_project  # noqa: E402
from akko_orchestrator.local_airflow.api_client import ApiClient  # noqa: E402
from akko_orchestrator.local_airflow.dev import admin_password  # noqa: E402
from akko_orchestrator.stack.airflow_component import kill_session, session_processes  # noqa: E402
from akko_orchestrator.stack.manager import StackManager, StackOptions, build_stack, read_env_file  # noqa: E402
from akko_orchestrator.stack.process import ProcessRecord  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]
HERE = Path(__file__).parent / "celery"
WORKERS = ("celery-worker-1", "celery-worker-2")
RUN_TIMEOUT = 300.0

TEST_SETTINGS = {
    # Only the DAGs a test unpauses run (the demo project's scheduled pipelines would otherwise catch up).
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # A lost worker's task is failed (then retried) 15 s after its last heartbeat instead of the stack's 60 s.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
}


@dataclass
class CeleryStack:
    manager: StackManager
    project_dir: Path
    state_dir: Path
    env: dict[str, str]
    api: ApiClient
    pids: set[int]
    startup: dict[str, float]

    def service(self, name: str) -> Any:
        return next(s for s in self.manager.services if s.name == name)

    def secrets(self) -> list[str]:
        passwords = json.loads((self.state_dir / "stack" / "postgres" / "passwords.json").read_text())
        admin = json.loads((self.state_dir / "airflow" / "simple_auth_manager_passwords.json").read_text())
        return [self.env["AKKO_REDIS_PASSWORD"], *passwords.values(), *admin.values()]


@pytest.fixture(scope="module")
def celery_stack() -> Iterator[CeleryStack]:
    base = Path(tempfile.mkdtemp(prefix="akko-celery-it-"))
    os.chmod(base, 0o711)  # as root, PostgreSQL runs as `postgres` and must reach its folder
    project_dir, state_dir = copy_project(base / "project"), base / "state"
    for name in ("celery_kill.yaml", "celery_functions.py"):
        shutil.copy(HERE / name, project_dir / "pipelines" / name)
    (state_dir / "dags").mkdir(parents=True)
    shutil.copy(HERE / "celery_dags.py", state_dir / "dags" / "celery_dags.py")
    settings = {
        **TEST_SETTINGS,
        "AKKO_STATE_DIR": str(state_dir),
        "AKKO_PROJECT_DIR": str(project_dir),
        "AKKO_PROFILE": "local",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    manager = build_stack(load_project(), StackOptions(engines=False, celery=True))
    stack: CeleryStack | None = None
    pids: set[int] = set()
    try:
        began = time.monotonic()
        statuses = manager.up()
        total = time.monotonic() - began
        startup = {s.name: s.startup_seconds or 0.0 for s in statuses if s.running}
        print(
            f"\nakko stack up --celery --no-engines: {total:.1f} s; "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in startup.items())
        )
        env = read_env_file(manager.paths.env_file)
        home = state_dir / "airflow"
        api = ApiClient(
            env["AKKO_AIRFLOW_API_URL"], "admin", admin_password(home / "simple_auth_manager_passwords.json")
        )
        pids = _stack_pids(manager)
        stack = CeleryStack(manager, project_dir, state_dir, env, api, pids, startup)
        yield stack
    finally:
        try:
            pids |= _stack_pids(manager)
            manager.down()
            # Every server ran in a session of its own (sid = its pid): nothing may be left in any of them.
            left = [pid for pid in pids if _alive(pid)] + [p for sid in pids for p in session_processes(sid)]
            assert not left, f"processes left after `down`: {sorted(left)}"
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            shutil.rmtree(base, ignore_errors=True)


def _stack_pids(manager: StackManager) -> set[int]:
    import psutil

    pids: set[int] = set()
    for status in manager.status():
        if status.pid:
            pids.add(status.pid)
            pids |= set(session_processes(status.pid))
            with contextlib.suppress(psutil.Error):
                pids |= {child.pid for child in psutil.Process(status.pid).children(recursive=True)}
    return pids


def _poll(get: Callable[[], Any], timeout: float, what: str, poll: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _trigger(api: ApiClient, dag_id: str) -> str:
    _poll(lambda: _dag_parsed(api, dag_id), 180, f"the dag-processor to parse {dag_id}")
    api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    return api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]


def _dag_parsed(api: ApiClient, dag_id: str) -> bool:
    import urllib.error

    try:
        api.call("GET", f"/api/v2/dags/{dag_id}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise
    return True


def _finished(api: ApiClient, dag_id: str, run_id: str) -> str | None:
    state = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
    return state if state in ("success", "failed") else None


def _task_instances(api: ApiClient, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200"
    return api.call("GET", path)["task_instances"]


def _worker_of(hostname: str) -> str:
    return hostname.partition("@")[0]


def _run_to_success(stack: CeleryStack, dag_id: str) -> tuple[str, list[dict[str, Any]], float]:
    began = time.monotonic()
    run_id = _trigger(stack.api, dag_id)
    state = _poll(lambda: _finished(stack.api, dag_id, run_id), RUN_TIMEOUT, f"the {dag_id} run")
    elapsed = time.monotonic() - began
    tis = _task_instances(stack.api, dag_id, run_id)
    assert state == "success", {t["task_id"]: t["state"] for t in tis}
    return run_id, tis, elapsed


def test_the_stack_runs_airflow_with_celery_on_postgres_and_redis(celery_stack: CeleryStack) -> None:
    statuses = {s.name: s for s in celery_stack.manager.status()}
    expected = {"postgres", "redis", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor"}
    assert expected | set(WORKERS) | {"airflow-triggerer"} <= {n for n, s in statuses.items() if s.running}
    assert not statuses.get("trino") and not statuses.get("spark"), "--no-engines starts neither"
    health = celery_stack.api.call("GET", "/api/v2/monitor/health")
    assert health["metadatabase"]["status"] == "healthy" and health["scheduler"]["status"] == "healthy"
    config = celery_stack.env
    assert config["AKKO_AIRFLOW_DB"].startswith("postgresql") and config["AKKO_CELERY_BROKER_URL"].startswith(
        "redis://"
    )


def test_the_demo_and_a_50_task_fan_out_run_on_both_workers(celery_stack: CeleryStack) -> None:
    _, demo, seconds = _run_to_success(celery_stack, "akko_e2e_pipeline")
    print(
        f"\nakko_e2e_pipeline on Celery: {seconds:.1f} s, workers {sorted({_worker_of(t['hostname']) for t in demo})}"
    )
    assert {_worker_of(t["hostname"]) for t in demo} <= set(WORKERS), [t["hostname"] for t in demo]

    _, tis, seconds = _run_to_success(celery_stack, "celery_fanout")
    assert len(tis) == 50 and all(t["state"] == "success" for t in tis)
    by_worker: dict[str, set[int]] = {}
    for ti in tis:
        by_worker.setdefault(_worker_of(ti["hostname"]), set()).add(ti["pid"])
    print(
        f"\ncelery_fanout (50 tasks): {seconds:.1f} s; tasks per worker: "
        f"{ {w: sum(_worker_of(t['hostname']) == w for t in tis) for w in by_worker} }"
    )
    assert set(by_worker) == set(WORKERS), by_worker
    assert len({ti["pid"] for ti in tis}) == 50, "every task ran in a process of its own"
    # The pids the task instances report are those of processes under each worker.
    assert not by_worker[WORKERS[0]] & by_worker[WORKERS[1]]


def test_a_worker_killed_mid_task_has_its_task_retried_on_the_other_once(celery_stack: CeleryStack) -> None:
    from akko_orchestrator.lakehouse.catalog import open_catalog

    api, marks = celery_stack.api, celery_stack.state_dir / "celery-started"
    run_id = _trigger(api, "celery_kill")
    first = _poll(lambda: _mark(marks, run_id, 1), RUN_TIMEOUT, "the step's first try to start")
    victim = first["worker"]
    assert victim in WORKERS, first
    survivor = next(w for w in WORKERS if w != victim)
    record = ProcessRecord.load(celery_stack.service(victim).record_file)
    assert record is not None and record.alive()
    # The worker, its pool, the task's supervisor and the task process (its own process group in the worker's
    # session), all at once with no clean-up: a lost machine.
    kill_session(record.pid, signal.SIGKILL)
    killed_at = time.monotonic()

    state = _poll(lambda: _finished(api, "celery_kill", run_id), RUN_TIMEOUT, "the retried run")
    print(f"\nworker {victim} SIGKILLed; run {state} {time.monotonic() - killed_at:.1f} s later")
    (ti,) = _task_instances(api, "celery_kill", run_id)
    assert state == "success", ti
    assert ti["try_number"] == 2 and _worker_of(ti["hostname"]) == survivor, ti
    second = _mark(marks, run_id, 2)
    assert second and second["worker"] == survivor
    assert not session_processes(record.pid), "the first try's task process outlived its worker"

    table = open_catalog(load_project(celery_stack.project_dir)).load_table("demo.celery_killed")
    rows = table.scan().to_arrow()
    assert rows.num_rows == 100 and set(rows.column("run").to_pylist()) == {run_id}
    ours = [s for s in table.snapshots() if (s.summary or {}).get("akko.run-id") == run_id]
    assert len(ours) == 1, [s.summary for s in ours]
    assert ours[0].summary.get("akko.try-number") == "2"

    # The killed worker comes back with `akko stack up` (the others are left running).
    celery_stack.manager.up()
    assert celery_stack.service(victim).status().running
    celery_stack.pids |= _stack_pids(celery_stack.manager)


def test_tasks_sent_while_redis_is_down_fail_clearly_and_run_once_it_is_back(
    celery_stack: CeleryStack,
) -> None:
    redis, scheduler = celery_stack.service("redis"), celery_stack.service("airflow-scheduler")
    redis.stop()
    try:
        run_id = _trigger(celery_stack.api, "celery_broker")
        _poll(
            lambda: "Error sending Celery workload" in scheduler.log_file.read_text(errors="replace"),
            120,
            "the scheduler to report that it could not send the tasks",
        )
        states = {
            t["task_id"]: t["state"] for t in _task_instances(celery_stack.api, "celery_broker", run_id)
        }
        assert not set(states.values()) & {"success", "running"}, states
    finally:
        began = time.monotonic()
        celery_stack.manager.up()  # Redis again, on its port, with its password; the rest is running
    state = _poll(
        lambda: _finished(celery_stack.api, "celery_broker", run_id), RUN_TIMEOUT, "the run after Redis"
    )
    tis = _task_instances(celery_stack.api, "celery_broker", run_id)
    print(
        f"\nRedis back: celery_broker {state} after {time.monotonic() - began:.1f} s; "
        f"tries {[t['try_number'] for t in tis]}"
    )
    log = scheduler.log_file.read_text(errors="replace").splitlines()
    about = [line for line in log if "celery_broker" in line or "Error sending" in line][-30:]
    assert state == "success", ([(t["task_id"], t["state"], t["try_number"]) for t in tis], "\n".join(about))
    assert {_worker_of(t["hostname"]) for t in tis} <= set(WORKERS)


def test_a_worker_that_cannot_reach_redis_says_so(celery_stack: CeleryStack) -> None:
    """The message a worker logs when the broker is unreachable names it, with the password masked."""
    text = "\n".join(celery_stack.service(w).log_file.read_text(errors="replace") for w in WORKERS)
    lines = [line for line in text.splitlines() if "Cannot connect to redis" in line]
    assert lines, "the workers lost Redis in the previous test and said so"
    assert all("redis://:**@127.0.0.1" in line for line in lines), lines[:3]


def test_no_secret_in_logs_or_stack_status(celery_stack: CeleryStack) -> None:
    secrets = celery_stack.secrets()
    status = akko("stack", "status", env=cli_env(celery_stack.project_dir, celery_stack.state_dir))
    assert status.returncode == 0, status.stderr
    assert "celery-worker-1" in status.stdout and "redis" in status.stdout
    leaks = [s for s in secrets if s in status.stdout + status.stderr]
    assert not leaks, "a password in `akko stack status`"
    logs = [
        *(celery_stack.state_dir / "stack").glob("*/*.log"),
        *(celery_stack.state_dir / "airflow" / "logs").rglob("*.log"),
    ]
    assert len(logs) > 10
    for log in logs:
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"a password in {log}"


def _mark(marks: Path, run_id: str, try_number: int) -> dict[str, Any] | None:
    import re

    path = marks / re.sub(r"[^A-Za-z0-9_.-]", "_", f"{run_id}.{try_number}")
    return json.loads(path.read_text()) if path.is_file() else None
