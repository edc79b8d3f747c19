"""Airflow on the stack, scaled out with Celery (`akko stack up --celery`): api-server, scheduler, dag-processor,
triggerer and Celery workers as stack services, on the stack's PostgreSQL (Airflow's DB, AKKO_AIRFLOW_DB) with
Redis as the broker, all on loopback.

The components share one environment (`AirflowStack.environment()`): the project's Airflow settings
(local_airflow/environment.py: folders, shared keys), CeleryExecutor from local_airflow/executor.py, the stack's
variables (so a profile's `${AKKO_CATALOG_URI}` resolves in tasks) and the profile the tasks run with. It holds
passwords: it goes to the processes' environments only, never to a command line or a log.

The first component to start migrates the DB if needed, then launches every component not yet running at once
(on a small machine their start-up is mostly importing Airflow, which overlaps well); each component's `start()`
then waits for its own readiness: the api-server listening, the scheduler, dag-processor and triggerer
heartbeating in the api-server's health endpoint, a worker logging `ready.` (a worker that cannot reach Redis
fails with Celery's own message, password masked). A failure stops every component launched here.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.config.private_logs import open_private
from akko_orchestrator.stack.airflow_component import AirflowComponent
from akko_orchestrator.stack.base import StackPaths
from akko_orchestrator.stack.process import (
    LOOPBACK,
    ProcessRecord,
    StackError,
    choose_port,
    listens_on,
    log_tail,
)

if TYPE_CHECKING:
    from akko_orchestrator.config.project import Project
    from akko_orchestrator.stack.postgres import PostgresService
    from akko_orchestrator.stack.redis import RedisService

READY_TIMEOUT = 300.0  # seconds; several Airflow imports on a busy 2-core machine
BROKER_GRACE = 30.0  # a worker still unable to reach Redis after this long fails `up`
ADMIN = "admin"
SIMPLE_AUTH = {  # profiles with `airflow.auth: simple`: one admin, its password generated into a 0600 file
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
}

# Defaults the user's own AIRFLOW__* variables override.
STACK_TUNING = {
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
    # A lost worker's running task is failed (and retried) this long after its last heartbeat (stock: 300 s).
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
    "AIRFLOW__API__CLIENT_USE_PUBLIC_CERTS": "False",
    "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    "PYTHONUNBUFFERED": "1",
}


class AirflowStack:
    """What the Airflow components share: the project, the services they run on, their environment."""

    def __init__(
        self,
        paths: StackPaths,
        project: Project,
        postgres: PostgresService,
        redis: RedisService,
        *,
        profile: str | None = None,
        concurrency: int = 2,
        api_port: int | None = None,
    ):
        self.paths = paths
        self.project = project
        self.postgres = postgres
        self.redis = redis
        self.profile = profile or project.profile_name
        self.concurrency = concurrency
        self.api_port_option = api_port
        self.components: list[AirflowComponent] = []
        self._env: dict[str, str] | None = None
        self._api_port: int | None = None
        self._launched: list[AirflowComponent] = []

    @property
    def uses_keycloak(self) -> bool:
        """The tasks' profile logs users in through Keycloak (`airflow.auth: keycloak`): its auth manager, not the
        simple one with a generated admin password."""
        return self.project.profile_name == self.profile and self.project.profile.airflow.auth == "keycloak"

    # -- shared settings ---------------------------------------------------------------------------------------

    @property
    def api_port(self) -> int:
        if self._api_port is None:
            record = ProcessRecord.load(self.paths.state / "airflow-api-server" / "process.json")
            self._api_port = choose_port(self.api_port_option, record.port if record else None)
        return self._api_port

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def environment(self) -> dict[str, str]:
        """The components' environment (holds passwords: for process environments only)."""
        if self._env is not None:
            return self._env
        from akko_orchestrator.config.models import AirflowSettings, CelerySettings
        from akko_orchestrator.local_airflow import environment
        from akko_orchestrator.local_airflow.api_client import free_port
        from akko_orchestrator.local_airflow.executor import executor_settings

        stack_vars = {
            **self.postgres.start().variables,
            **self.redis.start().variables,
        }  # both already running
        metadata_db = stack_vars.get("AKKO_AIRFLOW_DB")
        if not metadata_db:
            raise StackError(
                "Airflow on the stack needs Airflow's DB in PostgreSQL (leave out --no-airflow-db)"
            )
        env = environment.user_environ()  # not what an earlier run in this process set for its own project
        defaults = {
            **environment.airflow_environment(self.project),
            **environment.DEV_TUNING,
            **STACK_TUNING,
        }
        user = dict(env)
        for key, value in defaults.items():
            if key in environment.ESSENTIAL or key not in user:
                env[key] = value
        env.update(stack_vars)  # this stack's endpoints, not an older env file's
        env.update(environment.shared_secrets(self.project.airflow_home, user))
        profile_celery = (
            self.project.profile.airflow.celery if self.project.profile_name == self.profile else None
        )
        celery = CelerySettings(
            broker_url=stack_vars["AKKO_CELERY_BROKER_URL"],
            queues=profile_celery.queues if profile_celery else ["default"],
        )
        env.update(executor_settings(AirflowSettings(executor="CeleryExecutor", celery=celery), metadata_db))
        env.update(
            {
                "AKKO_PROFILE": self.profile,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
                "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",  # migrated once before the components start
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        if not self.uses_keycloak:  # a Keycloak profile's auth manager came with airflow_environment()
            env.update(SIMPLE_AUTH)
        home = Path(env["AIRFLOW_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        environment.write_local_settings(home)
        self._env = env
        return env

    # -- starting ------------------------------------------------------------------------------------------------

    def start_all(self) -> None:
        """Once per `up`: launch every component not running, then wait until each is ready."""
        if all(c.running_record() is not None for c in self.components):
            return  # running already, or launched and waited for by an earlier component's start()
        self.launch_all()
        pending = list(self._launched)
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            pending = [c for c in pending if not c.check_ready()]
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise StackError(
                    f"not ready within {READY_TIMEOUT:.0f} s: {names}\n{log_tail(pending[0].log_file)}"
                )
            time.sleep(0.3)

    def launch_all(self) -> None:
        """Migrate the DB if needed, write the shims, launch every component not running."""
        self._launched = []
        env = self.environment()
        self._migrate(env)
        from akko_orchestrator.local_airflow.dev import admin_password

        if not self.uses_keycloak:
            # Generated here into the 0600 passwords file: the api-server would print one it generates itself.
            admin_password(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
        from akko_orchestrator.compiler.shims import sync_shims

        sync_shims(self.project.pipelines_dir, self.project.dags_dir, self.project.root)
        for component in self.components:
            if component.running_record() is None:
                component.launch(env)
                self._launched.append(component)

    def stop_launched(self) -> None:
        for component in reversed(self._launched):
            with contextlib.suppress(StackError):
                component.stop()
        self._launched.clear()

    def _migrate(self, env: dict[str, str]) -> None:
        """environment.ensure_database() in a child process (this one never imports Airflow)."""
        from akko_orchestrator.local_airflow import environment

        url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if environment.database_ready(url, version("apache-airflow"), Path(env["AIRFLOW_HOME"])):
            return
        log_file = self.paths.service_dir("airflow-api-server") / "migrate.log"
        code = "from akko_orchestrator.local_airflow.environment import ensure_database; ensure_database()"
        with open_private(log_file, truncate=True) as log:
            done = subprocess.run(
                [sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        if done.returncode != 0:
            raise StackError(f"creating Airflow's database failed\n{log_tail(log_file, 30)}")

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError):
            return {}


# -- readiness ---------------------------------------------------------------------------------------------------


def _api_listening(component: AirflowComponent) -> bool:
    record = ProcessRecord.load(component.record_file)
    if record is None or not listens_on(record.pid, record.port):
        return False
    return bool(component.stack.health())


def _heartbeat(section: str, field: str) -> Callable[[AirflowComponent], bool]:
    def ready(component: AirflowComponent) -> bool:
        beat = (component.stack.health().get(section) or {}).get(field)  # type: ignore[union-attr]
        if not isinstance(beat, str):
            return False
        return datetime.fromisoformat(beat).timestamp() >= component._launched_at - 1

    return ready


def _worker_ready(component: AirflowComponent) -> bool:
    try:
        text = component.log_file.read_text(errors="replace")
    except OSError:
        return False
    if " ready." in text:
        return True
    if "Cannot connect to redis" in text and time.time() - component._launched_at > BROKER_GRACE:
        line = next(line for line in text.splitlines() if "Cannot connect to redis" in line)
        raise StackError(
            f"{component.name} cannot reach the Celery broker (the stack's Redis): {line.strip()}\n"
            f"(log: {component.log_file})"
        )
    return False


def airflow_components(stack: AirflowStack, workers: int = 2) -> list[AirflowComponent]:
    """api-server, scheduler, dag-processor, `workers` Celery workers, triggerer: in start (and stop) order."""
    from akko_orchestrator.local_airflow.executor import WORKER_NAME

    queues = ",".join(_queues(stack))
    api_args = ["api-server", "--host", LOOPBACK, "--port", str(stack.api_port)]
    AirflowComponent(stack, "airflow-api-server", api_args, _api_listening)
    AirflowComponent(
        stack, "airflow-scheduler", ["scheduler"], _heartbeat("scheduler", "latest_scheduler_heartbeat")
    )
    AirflowComponent(
        stack,
        "airflow-dag-processor",
        ["dag-processor"],
        _heartbeat("dag_processor", "latest_dag_processor_heartbeat"),
    )
    for number in range(1, workers + 1):
        name = f"celery-worker-{number}"
        worker = AirflowComponent(
            stack,
            name,
            # --skip-serve-logs: the workers share this machine's log folder, which the api-server reads.
            ["celery", "worker", "-H", f"{name}@%h", "-q", queues, "--skip-serve-logs"]
            + ["--without-gossip", "--without-mingle"],
            _worker_ready,
        )
        worker.extra_env = {WORKER_NAME: name}
    AirflowComponent(
        stack, "airflow-triggerer", ["triggerer"], _heartbeat("triggerer", "latest_triggerer_heartbeat")
    )
    return list(stack.components)


def _queues(stack: AirflowStack) -> list[str]:
    celery = stack.project.profile.airflow.celery if stack.project.profile_name == stack.profile else None
    return celery.queues if celery else ["default"]


def celery_running(paths: StackPaths) -> bool:
    """Whether an earlier `up --celery` left Airflow running here (then it stays in the stack for status/down)."""
    for name in ("airflow-api-server", "celery-worker-1", "airflow-scheduler", "redis"):
        record = ProcessRecord.load(paths.state / name / "process.json")
        if record is not None and record.alive():
            return True
    return False
