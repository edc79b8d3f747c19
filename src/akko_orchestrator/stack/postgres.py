"""PostgreSQL for the stack: the shared Iceberg catalog, the operational source DB and, optionally, Airflow's DB.

This module is the server's lifecycle: its data under `stack/postgres/server/` (initdb once), listening on
127.0.0.1 only with SCRAM password authentication and no Unix socket (so a long state path cannot exceed the
socket-path limit, and every login needs a password), started and stopped with pg_ctl, and the variables the stack
exports for it. The binaries and running them as the server's user (never root) are stack/postgres_tools.py; the
databases, roles and the Iceberg catalog tables stack/postgres_databases.py.

Each role (superuser `postgres`, catalog, operational, airflow) gets a generated password kept in
`stack/postgres/passwords.json` (0600), printed nowhere.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.postgres_databases import (
    AIRFLOW_DB,
    CATALOG_DB,
    OPERATIONAL_DB,
    Database,
    PostgresEndpoint,
    provision_databases,
)
from akko_orchestrator.stack.postgres_tools import SUPERUSER, PgTools, Psql, find_bin_dir
from akko_orchestrator.stack.process import (
    LOOPBACK,
    ProcessRecord,
    StackError,
    choose_port,
    process_alive,
    process_create_time,
    write_private,
)

START_TIMEOUT = 120  # seconds; the machine is shared with heavy jobs


class PostgresService(Service):
    name = "postgres"

    def __init__(
        self,
        paths: StackPaths,
        *,
        catalog_name: str,
        warehouse: str,
        port: int | None = None,
        airflow_db: bool = False,
    ):
        super().__init__(paths)
        self.catalog_name = catalog_name  # the `catalog_name` column: pyiceberg, Trino and Spark must agree
        self.warehouse = warehouse  # file:// URI of the shared warehouse folder
        self.port = port
        # Once created, Airflow's DB stays part of the stack (exported by every later `up`, shown by `status`).
        self.airflow_db = airflow_db or self._airflow_marker.exists()

    # -- layout -----------------------------------------------------------------------------------------------

    @property
    def server_dir(self) -> Path:
        return self.home / "server"  # owned by the server's user; holds data/ and the server log

    @property
    def data_dir(self) -> Path:
        return self.server_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.server_dir / "server.log"

    @property
    def _airflow_marker(self) -> Path:
        return self.home / "airflow-db"

    @property
    def databases(self) -> list[Database]:
        return [CATALOG_DB, OPERATIONAL_DB] + ([AIRFLOW_DB] if self.airflow_db else [])

    # -- Service --------------------------------------------------------------------------------------------

    def install(self) -> None:
        """Nothing to download: the server comes from the distribution; check it is there."""
        find_bin_dir()

    def start(self) -> ServiceEnv:
        record = self._running_record()
        if record is None:
            record = self._start_server()
        return self._env(record.port)

    def stop(self) -> None:
        if not process_alive_in(self.data_dir):
            return  # never started, already stopped, or a stale postmaster.pid after a crash
        runner = PgTools(find_bin_dir(), self.server_dir)
        try:
            runner.run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop", timeout=90)
        except StackError:
            # `fast` waits for nothing but may still hang on a stuck backend; `immediate` is crash-like but safe.
            runner.run(
                "pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "60", "stop", timeout=90
            )

    def status(self) -> ServiceStatus:
        record = ProcessRecord.load(self.record_file)
        running = record is not None and record.alive()
        return ServiceStatus(
            name=self.name,
            running=running,
            endpoint=f"postgresql://{LOOPBACK}:{record.port}" if running and record else None,
            pid=record.pid if running and record else None,
            detail=self._detail() if running else "",
            startup_seconds=record.startup_seconds if record else None,
        )

    def _detail(self) -> str:
        try:
            version = (self.data_dir / "PG_VERSION").read_text().strip()
        except OSError:
            version = "?"
        return f"PostgreSQL {version}: {', '.join(d.name for d in self.databases)}"

    # -- what other services use -------------------------------------------------------------------------------

    def endpoint(self) -> PostgresEndpoint:
        record = self._running_record()
        if record is None:
            raise StackError("PostgreSQL is not running: `akko stack up` starts it")
        return PostgresEndpoint(LOOPBACK, record.port)

    def password(self, role: str) -> str:
        return self._passwords()[role]

    def planned_port(self) -> int:
        """The port the server listens on, or will at its next start: fixed now, so services built before `up`
        (e.g. Spark's catalog settings) can name the catalog's JDBC URL."""
        record = self._running_record()
        if record is not None:
            return record.port
        if self.port is None:
            previous = ProcessRecord.load(self.record_file)
            self.port = choose_port(None, previous.port if previous else None)
        return self.port

    # -- internals ----------------------------------------------------------------------------------------------

    def _running_record(self) -> ProcessRecord | None:
        record = ProcessRecord.load(self.record_file)
        return record if record is not None and record.alive() else None

    def _start_server(self) -> ProcessRecord:
        began = time.monotonic()
        runner = PgTools(find_bin_dir(), self.server_dir)
        runner.prepare_dir(self.home)
        passwords = self._passwords()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(runner, passwords[SUPERUSER])
        previous = ProcessRecord.load(self.record_file)
        port = self._start_on_port(runner, previous.port if previous else None)
        self._provision(runner, port, passwords)
        Path(self.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        record = ProcessRecord(pid, process_create_time(pid), port, time.monotonic() - began, time.time())
        record.save(self.record_file)
        return record

    def _passwords(self) -> dict[str, str]:
        """Generated once per state folder; URL-safe, so they need no quoting in URIs or properties."""
        path = self.home / "passwords.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        roles = [SUPERUSER, *(db.role for db in (CATALOG_DB, OPERATIONAL_DB, AIRFLOW_DB))]
        if any(role not in stored for role in roles):
            stored = {role: stored.get(role) or secrets.token_urlsafe(24) for role in roles}
            write_private(path, json.dumps(stored, indent=2) + "\n")
        return stored

    def _initdb(self, runner: PgTools, superuser_password: str) -> None:
        pwfile = self.server_dir / ".pwfile"  # read by initdb as the server's user, removed right after
        runner.write_owned(pwfile, superuser_password + "\n")
        try:
            runner.run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--no-locale",
                "--encoding=UTF8",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _start_on_port(self, runner: PgTools, previous: int | None, attempts: int = 3) -> int:
        """A free port can be taken between probing and binding: retry on another (unless one was configured)."""
        error: StackError | None = None
        for _ in range(attempts if self.port is None else 1):
            port = choose_port(self.port, previous)
            try:
                runner.run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    _server_options(port),
                    "-w",
                    "-t",
                    str(START_TIMEOUT),
                    "start",
                    timeout=START_TIMEOUT + 30,
                )
                return port
            except StackError as exc:
                error, previous = exc, None
                if process_alive_in(self.data_dir):
                    break  # it started but answered late: not a port problem
        assert error is not None
        raise error

    def _provision(self, runner: PgTools, port: int, passwords: dict[str, str]) -> None:
        provision_databases(Psql(runner, port, passwords[SUPERUSER]), self.databases, passwords)
        if self.airflow_db:
            self._airflow_marker.touch()

    def _env(self, port: int) -> ServiceEnv:
        endpoint = PostgresEndpoint(LOOPBACK, port)
        passwords = self._passwords()
        variables = {
            "AKKO_PG_HOST": LOOPBACK,
            "AKKO_PG_PORT": str(port),
            # The shared Iceberg catalog: pyiceberg (profile catalog.uri + password {env: AKKO_CATALOG_PASSWORD}),
            # Trino and Spark (JDBC URL + user + password); all must use the same catalog name.
            "AKKO_CATALOG_NAME": self.catalog_name,
            "AKKO_CATALOG_URI": endpoint.sqlalchemy_url(CATALOG_DB),
            "AKKO_CATALOG_JDBC_URL": endpoint.jdbc_url(CATALOG_DB),
            "AKKO_CATALOG_USER": CATALOG_DB.role,
            "AKKO_CATALOG_PASSWORD": passwords[CATALOG_DB.role],
            "AKKO_WAREHOUSE": self.warehouse,
            # The operational source database (schemas akko, banking): SQL ingest and Trino's `postgresql`.
            "AKKO_OPERATIONAL_JDBC_URL": endpoint.jdbc_url(OPERATIONAL_DB),
            "AKKO_OPERATIONAL_USER": OPERATIONAL_DB.role,
            "AKKO_OPERATIONAL_PASSWORD": passwords[OPERATIONAL_DB.role],
            "AIRFLOW_CONN_AKKO_OPERATIONAL": endpoint.airflow_uri(
                OPERATIONAL_DB, passwords[OPERATIONAL_DB.role]
            ),
        }
        if self.airflow_db:
            variables["AKKO_AIRFLOW_DB"] = endpoint.sqlalchemy_url(AIRFLOW_DB, passwords[AIRFLOW_DB.role])
        return ServiceEnv(variables)


def process_alive_in(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return process_alive(pid)


def _server_options(port: int) -> str:
    # Loopback only; no Unix socket (TCP + password for every login, no socket-path length limit). Durability
    # settings stay at their defaults: this holds the catalog, which must survive a crash of the machine.
    return " ".join(
        [
            f"-c listen_addresses={LOOPBACK}",
            f"-c port={port}",
            "-c unix_socket_directories=''",
            "-c max_connections=60",
            "-c shared_buffers=64MB",
        ]
    )
