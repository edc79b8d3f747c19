"""PostgreSQL for the stack: the shared Iceberg catalog, the operational source DB and, optionally, Airflow's DB.

One server from the distribution's packages (Debian `postgresql`; binaries found like tests/fixtures/postgres.py:
`$AKKO_PG_BIN`, the newest `/usr/lib/postgresql/<n>/bin`, then PATH), its data under `stack/postgres/server/`,
listening on 127.0.0.1 only with SCRAM password authentication and no Unix socket (so a long state path cannot
exceed the socket-path limit, and every login needs a password). PostgreSQL refuses to run as root: as root the
server runs as the `postgres` system user through `runuser`, which must be able to reach the state folder.

Each role (superuser `postgres`, catalog, operational, airflow) gets a generated password kept in
`stack/postgres/passwords.json` (0600). Passwords reach psql through its environment and SQL through stdin, never
a command line (visible to every user in `ps`), and are printed nowhere.

The catalog database holds Iceberg's JDBC catalog tables, created here with the DDL of Iceberg's own
`JdbcUtil` (schema V1: `iceberg_type` column), the schema pyiceberg's SqlCatalog, Trino's
`iceberg.catalog.type=jdbc` and Spark's `JdbcCatalog` all read and write; creating them up front, owned by the
catalog role, means no client needs DDL rights and none picks its own variant.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.process import (
    LOOPBACK,
    ProcessRecord,
    StackError,
    choose_port,
    log_tail,
    process_alive,
    process_create_time,
    write_private,
)

INSTALL_HINT = (
    "the PostgreSQL server binaries (initdb, pg_ctl, psql) are not installed: install the Debian package "
    "`postgresql` (`apt-get update && apt-get install -y postgresql`), or point AKKO_PG_BIN at their folder"
)
SERVER_USER = "postgres"  # the system user the server runs as when akko runs as root
SUPERUSER = "postgres"
START_TIMEOUT = 120  # seconds; the machine is shared with heavy jobs


# Sample accounts of AKKO's banking demo in the operational database; a user's own table is never touched.
BANKING_SEED = """\
DO $$
BEGIN
  IF to_regclass('banking.accounts') IS NULL THEN
    CREATE TABLE banking.accounts (
      id integer PRIMARY KEY, owner text NOT NULL, balance numeric(12, 2) NOT NULL, opened date NOT NULL);
    INSERT INTO banking.accounts
      SELECT i, 'owner_' || (i % 7), round((i * 37.5) % 5000, 2), DATE '2024-01-01' + i
      FROM generate_series(1, 50) AS i;
  END IF;
END $$;
"""


@dataclass(frozen=True)
class Database:
    """One database owned by one login role (each role may connect to its own database only)."""

    role: str
    name: str
    schemas: tuple[str, ...] = ()


CATALOG_DB = Database("akko_catalog", "akko_catalog")
OPERATIONAL_DB = Database("akko", "akko", ("akko", "banking"))
AIRFLOW_DB = Database("airflow", "airflow")

# Iceberg's JDBC catalog schema, as org.apache.iceberg.jdbc.JdbcUtil creates it (V0 tables plus the V1
# `iceberg_type` column, which marks TABLE or VIEW rows). Checked against Trino's bundled iceberg-core and
# pyiceberg's models by tests/integration/test_stack_trino.py.
ICEBERG_CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS iceberg_tables(
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name));
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties(
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255),
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key));
"""


def find_bin_dir() -> Path:
    candidates: list[Path] = []
    if os.environ.get("AKKO_PG_BIN"):
        candidates.append(Path(os.environ["AKKO_PG_BIN"]))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return folder
    raise StackError(INSTALL_HINT)


@dataclass(frozen=True)
class PostgresEndpoint:
    """How clients reach one database; URLs without a password unless one is passed."""

    host: str
    port: int

    def sqlalchemy_url(self, db: Database, password: str | None = None) -> str:
        return f"postgresql+psycopg2://{self._auth(db.role, password)}@{self.host}:{self.port}/{db.name}"

    def airflow_uri(self, db: Database, password: str) -> str:
        return f"postgres://{self._auth(db.role, password)}@{self.host}:{self.port}/{db.name}"

    def jdbc_url(self, db: Database) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{db.name}"

    @staticmethod
    def _auth(user: str, password: str | None) -> str:
        auth = quote(user, safe="")
        return f"{auth}:{quote(password, safe='')}" if password is not None else auth


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
        runner = _Runner(find_bin_dir(), self.server_dir)
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
        runner = _Runner(find_bin_dir(), self.server_dir)
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

    def _initdb(self, runner: _Runner, superuser_password: str) -> None:
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

    def _start_on_port(self, runner: _Runner, previous: int | None, attempts: int = 3) -> int:
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

    def _provision(self, runner: _Runner, port: int, passwords: dict[str, str]) -> None:
        """Roles, databases, schemas and the Iceberg catalog tables; idempotent, so every start re-applies it
        (and re-sets passwords from passwords.json)."""
        psql = _Psql(runner, port, passwords[SUPERUSER])
        for db in self.databases:
            psql.execute("postgres", _role_and_database_sql(db, passwords[db.role]))
            schemas = "".join(
                f'CREATE SCHEMA IF NOT EXISTS "{s}" AUTHORIZATION "{db.role}";\n' for s in db.schemas
            )
            if schemas:
                psql.execute(db.name, schemas)
        # Created as the catalog role, so it owns them (JdbcCatalog may ALTER them to upgrade the schema).
        psql.execute(CATALOG_DB.name, f'SET ROLE "{CATALOG_DB.role}";\n{ICEBERG_CATALOG_DDL}')
        # The banking demo's source rows (pipelines/banking_replication.yaml), only where the table is missing.
        psql.execute(OPERATIONAL_DB.name, f'SET ROLE "{OPERATIONAL_DB.role}";\n{BANKING_SEED}')
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


def _role_and_database_sql(db: Database, password: str) -> str:
    """psql script (read from stdin): create or update the role, then the database it owns (CREATE DATABASE
    cannot run in a DO block, hence \\gexec)."""
    literal = password.replace("'", "''")
    # A failing statement is logged with its text unless log_min_error_statement says otherwise: never the password.
    return f"""
SET log_min_error_statement TO panic;
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{db.role}') THEN CREATE ROLE "{db.role}" LOGIN; END IF;
END$$;
ALTER ROLE "{db.role}" WITH LOGIN PASSWORD '{literal}';
SELECT 'CREATE DATABASE "{db.name}" OWNER "{db.role}"'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{db.name}')\\gexec
REVOKE CONNECT ON DATABASE "{db.name}" FROM PUBLIC;
"""


class _Runner:
    """Runs the server tools as the server's user (root -> `postgres` via runuser); output goes into errors."""

    def __init__(self, bin_dir: Path, server_dir: Path):
        self.bin_dir = bin_dir
        self.server_dir = server_dir
        self.as_root = os.geteuid() == 0

    def run(
        self,
        tool: str,
        *args: str,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        as_server: bool = True,
    ) -> str:
        command = [str(self.bin_dir / tool), *args]
        if self.as_root and as_server:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        try:
            done = subprocess.run(
                command,
                cwd=self.server_dir,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, **(env or {})},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"{tool} failed: {exc}") from None
        if done.returncode != 0:
            raise StackError(
                f"{tool} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}\n"
                f"{log_tail(self.server_dir / 'server.log')}"
            )
        return done.stdout

    def prepare_dir(self, service_dir: Path) -> None:
        """The server's folder belongs to the server's user (0700); as root, check that user can reach it."""
        self.server_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.server_dir, 0o700)
        if not self.as_root:
            return
        import pwd

        try:
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise StackError(
                f"running as root needs the `{SERVER_USER}` system user; {INSTALL_HINT}"
            ) from None
        os.chown(self.server_dir, entry.pw_uid, entry.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(self.server_dir)],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            raise StackError(
                f"the `{SERVER_USER}` user (PostgreSQL refuses to run as root) cannot reach {self.server_dir}: "
                f"a parent folder is closed to other users. Let it through (`chmod o+x` on "
                f"{_closed_parents(service_dir)}) or move the state folder (AKKO_STATE_DIR) elsewhere"
            )

    def write_owned(self, path: Path, text: str) -> None:
        write_private(path, text)
        if self.as_root:
            import pwd

            entry = pwd.getpwnam(SERVER_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _closed_parents(path: Path) -> str:
    closed = [str(p) for p in reversed(path.resolve().parents) if not os.stat(p).st_mode & 0o001]
    return ", ".join(closed) or "its parents"


class _Psql:
    """psql as the superuser over TCP; the password goes in the environment, SQL through stdin."""

    def __init__(self, runner: _Runner, port: int, password: str):
        self.runner = runner
        self.port = port
        self.password = password

    def execute(self, dbname: str, sql: str) -> str:
        args = [
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-X",
            "-f",
            "-",
        ]
        return self.runner.run("psql", *args, stdin=sql, env={"PGPASSWORD": self.password}, as_server=False)
