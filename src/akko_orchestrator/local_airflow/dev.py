"""`akko dev`: a real local Airflow 3 (api-server, scheduler, dag-processor, triggerer) on the project's pipelines.

Each component is a child process in its own process group, configured only through environment variables, with
its output in a log file under the Airflow home. This process prints the URL, the login and when everything is
ready, re-syncs the shims while spec files come and go, and on Ctrl-C or SIGTERM stops every process group it
started (SIGKILL after a timeout).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from akko_orchestrator.compiler.shims import sync_shims
from akko_orchestrator.config.private_logs import open_private, private_dir
from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.local_airflow import environment
from akko_orchestrator.local_airflow.api_client import ApiClient, free_port
from akko_orchestrator.local_airflow.dev_ready import not_ready, report_import_errors, shim_files
from akko_orchestrator.local_airflow.dev_watch import watch

# The triggerer only serves deferred tasks, so it starts once the rest is ready: on a small machine its start-up
# CPU (importing Airflow) would otherwise slow the others down (measured on 2 busy cores: warm start 25 s -> 19 s).
FIRST = ("api-server", "dag-processor", "scheduler")
THEN = ("triggerer",)
ADMIN = "admin"
POLL_SECONDS = 1.0  # children and spec files are checked this often
STOP_TIMEOUT = 20.0  # SIGTERM -> SIGKILL; a stopping scheduler first waits for its running tasks
KILL_WAIT = 10.0  # SIGKILL -> every process of the groups gone
SLOW_START_NOTICE = 120.0  # say what is still missing if readiness takes longer than this

# Settings only `akko dev` needs, on top of environment.DEV_TUNING (which they override where both set a key).
DEV_SETTINGS = {
    # The scheduler sleeps this long only when a loop found nothing to do: the main part of the gap between
    # dependent tasks (stock: 1 s). 0.05 s costs a quarter of a core while idle, 0.1 s about a sixth.
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
    # LocalExecutor forks `parallelism` workers at start (stock: 32) and tasks land on them in turn; a worker's
    # first task pays ~0.3 s of imports and TLS set-up, so fewer workers means most tasks start on a warm one.
    "AIRFLOW__CORE__PARALLELISM": str(max(2, min(8, os.cpu_count() or 2))),
    # A task's supervisor notices its process has exited only on its next wake-up, at most this many seconds
    # later (stock: 5); until then it holds a worker, and with few workers the next task waits for it.
    # The price is one heartbeat per second per running task.
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    # Workers call the Execution API over plain http on loopback: loading certifi's CA bundle is wasted time.
    "AIRFLOW__API__CLIENT_USE_PUBLIC_CERTS": "False",
    # A new shim is found when the bundle is refreshed; refresh_interval is only checked every
    # bundle_refresh_check_interval (5 s), so both are short. Listing the DAG folder is cheap.
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
    # Edited specs are re-parsed at once because the watcher touches their shim (the dag-processor re-parses
    # files newer than their last parse), so periodic re-parsing can be rare and save CPU for the tasks.
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
    # Each component would otherwise load every migration script to compare the DB's revision with its own;
    # this process migrates before starting them (see _start), keyed on the Airflow version and the DB.
    "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",
    # Children write to log files, not a terminal.
    "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class Component:
    """One Airflow component: the process we started, leader of its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


def run_dev(project: Project, host: str, port: int, out: Console) -> None:
    """Start Airflow on the project, wait until it is usable, keep the shims in sync, stop it on a signal."""
    started, since = time.monotonic(), datetime.now(UTC)
    with _StopSignal() as stop:
        _check_port(host, port)
        env = dev_environment(project, host, port)
        log_dir = project.airflow_home / "logs" / "dev"
        private_dir(log_dir)
        sync_shims(project.pipelines_dir, project.dags_dir, project.root)
        password = admin_password(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
        components: list[Component] = []
        try:
            _start(env, host, port, log_dir, components)
            if stop.requested:
                return
            url = f"http://{_client_host(host)}:{port}"
            out.print(
                f"Airflow UI  {url}   user [bold]{ADMIN}[/bold]   password [bold]{escape(password)}[/bold]",
                soft_wrap=True,
            )
            out.print(f"Logs        {log_dir}", soft_wrap=True)
            api = ApiClient(url, ADMIN, password)
            if wait_ready(project, api, components, since, stop, out):
                out.print(
                    f"[green]ready in {time.monotonic() - started:.1f} s[/green] (Ctrl-C stops)",
                    soft_wrap=True,
                )
                components += start_components(env, host, port, log_dir, THEN)
                watch(project, lambda: _check_children(components), stop, POLL_SECONDS, out)
        finally:
            _shutdown(components, stop, out)


def dev_environment(project: Project, host: str, port: int) -> dict[str, str]:
    """The children's environment: project settings, dev tuning, then what this process must control."""
    env = dict(os.environ)
    wanted = {**environment.airflow_environment(project), **environment.DEV_TUNING, **DEV_SETTINGS}
    for key, value in wanted.items():
        if key in environment.ESSENTIAL or key not in os.environ:
            env[key] = value  # otherwise the user's own setting wins, as in environment.apply()
    _use_bytecode_cache(env, project.state_dir)
    env.update(environment.shared_secrets(project.airflow_home))
    env.update(
        {
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            # Workers reach the Execution API here; Airflow's default is localhost:8080 whatever the port.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{_client_host(host)}:{port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            # Free ports, so a second `akko dev` or another Airflow on this machine does not collide (8793/8794).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    environment.write_local_settings(Path(env["AIRFLOW_HOME"]))  # preloads the compiler, as for `akko run`
    return env


def _use_bytecode_cache(env: dict[str, str], state_dir: Path) -> None:
    """With PYTHONDONTWRITEBYTECODE and an installation without bytecode, every component would compile Airflow
    from source at every start (seconds of CPU each): keep the bytecode under the state dir instead."""
    if not env.get("PYTHONDONTWRITEBYTECODE") or env.get("PYTHONPYCACHEPREFIX"):
        return
    spec = importlib.util.find_spec("airflow")  # locates the package without importing it
    if spec is None or spec.origin is None or Path(importlib.util.cache_from_source(spec.origin)).exists():
        return
    del env["PYTHONDONTWRITEBYTECODE"]
    env["PYTHONPYCACHEPREFIX"] = str(state_dir / "pycache")


def _check_port(host: str, port: int) -> None:
    """Fail before starting anything: the api-server would only say so in its log."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise AkkoError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port"
            ) from None


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def admin_password(passwords_file: Path) -> str:
    """The admin password from the simple auth manager's passwords file, generated there on first use."""
    passwords: dict[str, str] = {}
    if passwords_file.is_file() and passwords_file.read_text().strip():
        passwords = json.loads(passwords_file.read_text())
    if ADMIN not in passwords:
        passwords[ADMIN] = secrets.token_urlsafe(12)
        environment.write_private(passwords_file, json.dumps(passwords) + "\n")
    return passwords[ADMIN]


def _start(env: dict[str, str], host: str, port: int, log_dir: Path, components: list[Component]) -> None:
    """Start the FIRST components into `components`, creating or migrating the metadata DB first if needed.

    The api-server takes longest to start and does not use the DB before a request, so during a migration it
    already starts (it skips the migration check, see DEV_SETTINGS); should it lose a race with the migration
    and exit, it starts once more afterwards.
    """
    if _database_ready(env):
        components += start_components(env, host, port, log_dir, FIRST)
        return
    components += start_components(env, host, port, log_dir, FIRST[:1])
    _migrate(env, log_dir)
    if components[0].process.poll() is not None:
        components[0] = start_components(env, host, port, log_dir, FIRST[:1])[0]
    components += start_components(env, host, port, log_dir, FIRST[1:])


def _database_ready(env: dict[str, str]) -> bool:
    """What environment.ensure_database() checks, without importing Airflow (seconds saved)."""
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    return environment.database_ready(url, version("apache-airflow"), Path(env["AIRFLOW_HOME"]))


def _migrate(env: dict[str, str], log_dir: Path) -> None:
    """environment.ensure_database() in a child process, so that this one never imports Airflow."""
    log_file = log_dir / "migrate.log"
    code = "from akko_orchestrator.local_airflow.environment import ensure_database; ensure_database()"
    with open_private(log_file, truncate=True) as log:
        # Own session: Ctrl-C must not interrupt a migration half-way; the stop is handled once it is done.
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if done.returncode != 0:
        raise AkkoError(f"creating Airflow's database failed:\n{_tail(log_file)}")


def start_components(
    env: dict[str, str], host: str, port: int, log_dir: Path, names: Iterable[str] = FIRST + THEN
) -> list[Component]:
    """Start components; one that fails to start stops those started here."""
    args = {
        "api-server": ["api-server", "--host", host, "--port", str(port)],
        "dag-processor": ["dag-processor"],
        "scheduler": ["scheduler"],
        "triggerer": ["triggerer"],
    }
    components: list[Component] = []
    try:
        for name in names:
            components.append(_spawn(name, args[name], env, log_dir / f"{name}.log"))
    except OSError:
        stop_components(components)
        raise
    return components


def _spawn(name: str, args: list[str], env: dict[str, str], log_file: Path) -> Component:
    with open_private(log_file, truncate=True) as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped as a whole, deaf to the terminal's Ctrl-C
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    return Component(name, process, log_file)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this process dies without stopping it (kill -9, crash)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_components(
    components: Iterable[Component], timeout: float = STOP_TIMEOUT, hurry: Callable[[], bool] = lambda: False
) -> None:
    """SIGTERM every process group, wait up to `timeout` (less if `hurry()`), then SIGKILL whatever is left."""
    components = list(components)
    for component in components:
        component.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not hurry() and _running(components):
        time.sleep(0.2)
    for component in components:
        component.signal(signal.SIGKILL)  # also reaches children a component left behind in its group
        component.process.wait()
    # A SIGKILLed process exits when the kernel gets to it (seconds on a loaded machine): return only when the
    # groups are empty, so nothing `akko dev` started outlives it.
    pgids, give_up = {c.process.pid for c in components}, time.monotonic() + KILL_WAIT
    while live_groups(pgids) and time.monotonic() < give_up:
        time.sleep(0.1)


def _running(components: list[Component]) -> bool:
    """A leader, or anything a leader left behind in its group (task processes, parsers, log servers)."""
    if any(c.process.poll() is None for c in components):
        return True
    return bool(live_groups({c.process.pid for c in components}))


def live_groups(pgids: set[int]) -> set[int]:
    """Which of these process groups still have a live (non-zombie) member."""
    import psutil  # an Airflow dependency

    live = set()
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and (pgid := os.getpgid(proc.pid)) in pgids:
                live.add(pgid)
        except (ProcessLookupError, PermissionError):
            continue
    return live


def _shutdown(components: list[Component], stop: _StopSignal, out: Console) -> None:
    if not components:
        return
    out.print("stopping Airflow…")
    stop_components(components, hurry=lambda: stop.count > 1)  # a second Ctrl-C means kill now
    out.print("stopped")


def _check_children(components: list[Component]) -> None:
    for component in components:
        code = component.process.poll()
        if code is not None:
            raise AkkoError(
                f"the {component.name} exited (code {code}); end of {component.log_file}:\n{_tail(component.log_file)}"
            )


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(
    project: Project,
    api: ApiClient,
    components: list[Component],
    since: datetime,
    stop: _StopSignal,
    out: Console,
) -> bool:
    """Until the API answers, the scheduler heartbeats and every shim is parsed (False if stopped first)."""
    begun, noticed = time.monotonic(), False
    while not stop.requested:
        _check_children(components)
        missing = not_ready(api, shim_files(project), since)
        if not missing:
            report_import_errors(api, out)
            return True
        if not noticed and time.monotonic() - begun > SLOW_START_NOTICE:
            out.print(Text(f"still waiting for: {', '.join(sorted(missing))}"))  # wrapped at the width
            noticed = True
        stop.wait(0.5)
    return False


class _StopSignal:
    """SIGINT/SIGTERM set a flag instead of raising, so shutdown always runs in order; counts repeats."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.count = 0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)
