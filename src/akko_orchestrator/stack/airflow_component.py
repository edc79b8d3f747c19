"""One Airflow process of the stack's scaled-out Airflow (`python -m airflow <args>`: api-server, scheduler,
dag-processor, triggerer, a Celery worker), started in its own session and recorded like any stack server; and
stopping a session whole (task processes run in process groups of their own).

What the components share (environment, DB migration, start-up of all at once) is `AirflowStack` in
`airflow_services.py`, which builds them; this module only knows it through the methods it calls.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus
from akko_orchestrator.stack.process import (
    LOOPBACK,
    ProcessRecord,
    StackError,
    kill_process_group,
    launch,
    log_tail,
)

if TYPE_CHECKING:
    from akko_orchestrator.stack.airflow_services import AirflowStack


class AirflowComponent(Service):
    """One Airflow process (`python -m airflow <args>`) in its own session, recorded like any stack server."""

    def __init__(
        self, stack: AirflowStack, name: str, args: list[str], ready: Callable[[AirflowComponent], bool]
    ):
        super().__init__(stack.paths)
        self.stack = stack
        self.name = name
        self.args = args
        self.ready = ready
        self.extra_env: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._launched_at = 0.0
        self._starting = False
        stack.components.append(self)

    def running_record(self) -> ProcessRecord | None:
        record = ProcessRecord.load(self.record_file)
        return record if record is not None and record.alive() else None

    def install(self) -> None:
        if importlib.util.find_spec("airflow.providers.celery") is None:
            raise StackError(
                "CeleryExecutor needs apache-airflow-providers-celery (AKKO's `cluster` extra): "
                "`pip install 'akko-orchestrator[cluster]'`"
            )

    def launch(self, env: dict[str, str]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        port = self.stack.api_port if self.name == "airflow-api-server" else 0
        self._launched_at = time.time()
        self._starting = True
        self._process, _ = launch(
            [sys.executable, "-m", "airflow", *self.args],
            cwd=self.dir,
            env={**env, **self.extra_env},
            log_file=self.log_file,
            record_file=self.record_file,
            port=port,
        )

    def start(self) -> ServiceEnv:
        try:
            self.stack.start_all()
        except BaseException:
            self.stack.stop_launched()
            raise
        self._starting = False
        return self._env()

    def _env(self) -> ServiceEnv:
        if self.name != "airflow-api-server":
            return ServiceEnv({})
        return ServiceEnv({"AKKO_AIRFLOW_API_URL": self.stack.api_url})

    def check_ready(self) -> bool:
        """True once ready (its start-up time recorded); raises if the process exited."""
        process = self._process
        if process is None:
            return True
        if process.poll() is not None:
            raise StackError(f"{self.name} exited with {process.returncode}\n{log_tail(self.log_file, 40)}")
        if not self.ready(self):
            return False
        record = ProcessRecord.load(self.record_file)
        if record is not None:
            record.startup_seconds = time.time() - self._launched_at
            record.save(self.record_file)
        self._process = None
        return True

    def stop(self) -> None:
        record = self.running_record()
        if record is not None:
            kill_process_group(record.pid, timeout=30)  # a Celery worker first finishes its running tasks
            kill_session(record.pid)  # task processes run in process groups of their own
        self._process = None

    def status(self) -> ServiceStatus:
        record = self.running_record()
        if record is None or self._starting:  # launched by this `up`, its start() not yet returned
            return ServiceStatus(self.name, running=False, detail=f"not running (log: {self.log_file})")
        endpoint = f"http://{LOOPBACK}:{record.port}" if record.port else None
        return ServiceStatus(
            self.name,
            running=True,
            endpoint=endpoint,
            pid=record.pid,
            detail=" ".join(self.args[:2]) if self.args[0] == "celery" else self.args[0],
            startup_seconds=record.startup_seconds,
        )


def session_processes(sid: int) -> list[int]:
    """Live processes of the session `sid` (a component's, started with its own session): Airflow's supervisor
    starts each task process in a process group of its own, which signalling the component's group misses."""
    import psutil

    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(process.pid) == sid:
                found.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def kill_session(sid: int, sig: int = signal.SIGKILL) -> None:
    for pid in session_processes(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
