"""`akko stack up|down|status` over an ordered list of services (the helpers they share are in `process.py`).

`up` installs and starts each service in order (later ones may use earlier ones: Trino reads the PostgreSQL
catalog), then writes every service's variables to `StackPaths.env_file` (0600: it holds passwords). A service
that fails to start stops the ones this `up` started, so a failed `up` leaves nothing half-running. `down`
stops in reverse order and removes the env file.

Each service remembers its process in `<service dir>/process.json` (pid, the process's start time, port,
start-up seconds), so `status` and `down` work from a later `akko` invocation than the `up` that started it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.config.project import read_env_file as read_env_file  # re-exported: tests, tools
from akko_orchestrator.stack.base import Service, ServiceStatus, StackPaths
from akko_orchestrator.stack.postgres import PostgresService
from akko_orchestrator.stack.postgres_databases import CATALOG_DB
from akko_orchestrator.stack.process import LOOPBACK as LOOPBACK  # re-exported: tests
from akko_orchestrator.stack.process import ProcessRecord, Progress, StackError, write_private
from akko_orchestrator.stack.spark import SparkConnectService
from akko_orchestrator.stack.spark_catalog import IcebergJdbcCatalog
from akko_orchestrator.stack.trino import TrinoService

if TYPE_CHECKING:
    from akko_orchestrator.config.project import Project


# ---------------------------------------------------------------------------------------------------------------
# The manager.


class StackManager:
    """Up/down/status over services started in list order (dependencies first)."""

    def __init__(self, paths: StackPaths, services: list[Service]):
        self.paths = paths
        self.services = services

    def up(self, progress: Progress | None = None) -> list[ServiceStatus]:
        say = progress or (lambda _message: None)
        variables: dict[str, str] = {}
        started: list[Service] = []
        try:
            for service in self.services:
                was_running = service.status().running
                say(f"{service.name}: installing")
                service.install()
                say(f"{service.name}: starting" if not was_running else f"{service.name}: already running")
                if not was_running:
                    started.append(service)  # before start(): a start that fails halfway is stopped too
                variables.update(service.start().variables)
        except BaseException:
            self._stop_all(reversed(started))  # leave nothing half-running behind a failed `up`
            raise
        # Raw files of the cluster profile: a folder every engine here reads (Spark's local executors, pyiceberg);
        # AKKO's own cluster uses an S3 bucket instead (see the `polaris` profile).
        variables.setdefault("AKKO_OBJECT_STORE", str(self.paths.state / "object-store"))
        self.write_env(variables)
        return self.status()

    def down(self) -> list[ServiceStatus]:
        with contextlib.suppress(FileNotFoundError):
            self.paths.env_file.unlink()  # its endpoints and secrets no longer reach anything
        self._stop_all(reversed(self.services))
        return self.status()

    def status(self) -> list[ServiceStatus]:
        return [service.status() for service in self.services]

    def write_env(self, variables: dict[str, str]) -> Path:
        """`export KEY='value'` lines: `source stack.env` in a shell, or any dotenv reader."""
        lines = ["# Written by `akko stack up`; holds passwords (0600). Removed by `akko stack down`."]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(variables.items())]
        write_private(self.paths.env_file, "\n".join(lines) + "\n")
        return self.paths.env_file

    @staticmethod
    def _stop_all(services: Iterator[Service]) -> None:
        """Stop every service even if one fails; report the failures together."""
        errors: list[str] = []
        for service in services:
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(f"{service.name}: {exc}")
        if errors:
            raise StackError("could not stop " + "; ".join(errors))


@dataclass(frozen=True)
class StackOptions:
    """What a user may choose for `akko stack up` (everything else is derived from the project)."""

    postgres_port: int | None = None
    trino_port: int | None = None
    spark_port: int | None = None
    airflow_db: bool = True  # Airflow's metadata DB for the cluster profile (AKKO_AIRFLOW_DB)
    rest_catalog: bool = False  # also an Iceberg REST catalog with OAuth2 (AKKO_STACK_REST_CATALOG=1)
    keycloak: bool = False  # also Keycloak with the `akko` realm, SSO for Airflow (AKKO_STACK_KEYCLOAK=1)
    engines: bool = True  # Trino and Spark Connect; False starts neither (e.g. a Celery-only test stack)
    celery: bool = False  # also Redis and Airflow scaled out with Celery (stack/airflow_services.py)
    celery_workers: int = 2
    worker_concurrency: int = 2  # task slots per Celery worker
    # With `celery`: the profile the stack's Airflow runs tasks with (default: the project's).
    airflow_profile: str | None = None


def build_stack(project: Project, options: StackOptions | None = None) -> StackManager:
    """PostgreSQL (shared Iceberg catalog, operational DB), then Trino and Spark Connect over that catalog."""
    opts = options or StackOptions()
    paths = StackPaths.for_state_dir(project.state_dir)
    postgres = PostgresService(
        paths,
        catalog_name=project.config.lakehouse,
        warehouse=(paths.state / "warehouse").as_uri(),
        port=opts.postgres_port or _env_port("AKKO_STACK_POSTGRES_PORT"),
        airflow_db=opts.airflow_db,
    )
    trino = TrinoService(paths, postgres, port=opts.trino_port or _env_port("AKKO_STACK_TRINO_PORT"))

    def spark_catalog() -> IcebergJdbcCatalog:
        # Resolved when Spark starts, after PostgreSQL: its port is known then. The Spark catalog's name is the
        # JDBC `catalog_name`, so it must be the lakehouse name pyiceberg and Trino use.
        return IcebergJdbcCatalog(
            jdbc_url=postgres.endpoint().jdbc_url(CATALOG_DB),
            user=CATALOG_DB.role,
            password=postgres.password(CATALOG_DB.role),
            warehouse=postgres.warehouse,
            name=postgres.catalog_name,
        )

    spark = SparkConnectService(
        paths, spark_catalog, port=opts.spark_port or _env_port("AKKO_STACK_SPARK_PORT")
    )
    services: list[Service] = [postgres, trino, spark] if opts.engines else [postgres]
    if opts.rest_catalog or os.environ.get("AKKO_STACK_REST_CATALOG") == "1" or _rest_catalog_running(paths):
        # Opt-in; once running it stays in the stack, so `down` and `status` see it without the flag.
        from akko_orchestrator.stack.rest_catalog import RestCatalogService

        port = _env_port("AKKO_STACK_REST_CATALOG_PORT")
        services.append(RestCatalogService(paths, catalog_name=project.config.lakehouse, port=port))
    if opts.keycloak or os.environ.get("AKKO_STACK_KEYCLOAK") == "1" or _service_running(paths, "keycloak"):
        # Opt-in, like the REST catalog; before Airflow's services, whose API server may log users in through it.
        from akko_orchestrator.stack.keycloak import KeycloakService

        port = _env_port("AKKO_STACK_KEYCLOAK_PORT")
        services.append(KeycloakService(paths, teams=list(project.config.teams), port=port))
    if opts.celery or _celery_running(paths):
        services += _celery_services(project, paths, postgres, opts)
    return StackManager(paths, services)


def _celery_services(
    project: Project, paths: StackPaths, postgres: PostgresService, opts: StackOptions
) -> list[Service]:
    """Redis, then Airflow's components with CeleryExecutor on the stack's PostgreSQL (Airflow's DB)."""
    from akko_orchestrator.stack.airflow_services import AirflowStack, airflow_components
    from akko_orchestrator.stack.redis import RedisService

    postgres.airflow_db = True
    redis = RedisService(paths, port=_env_port("AKKO_STACK_REDIS_PORT"))
    airflow = AirflowStack(
        paths,
        project,
        postgres,
        redis,
        profile=opts.airflow_profile,
        concurrency=opts.worker_concurrency,
        api_port=_env_port("AKKO_STACK_AIRFLOW_PORT"),
    )
    return [redis, *airflow_components(airflow, workers=opts.celery_workers)]


def _celery_running(paths: StackPaths) -> bool:
    from akko_orchestrator.stack.airflow_services import celery_running

    return celery_running(paths)


def _service_running(paths: StackPaths, name: str) -> bool:
    record = ProcessRecord.load(paths.state / name / "process.json")
    return record is not None and record.alive()


def _rest_catalog_running(paths: StackPaths) -> bool:
    record = ProcessRecord.load(paths.state / "rest-catalog" / "process.json")
    return record is not None and record.alive()


def _env_port(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    if not value.isdigit():
        raise StackError(f"{name} must be a port number, not {value!r}")
    return int(value)
