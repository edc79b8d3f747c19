"""Spark Connect for the stack: the server shipped in the pyspark wheel, on Java 17/21, over the shared Iceberg
JDBC catalog (PostgreSQL) that pyiceberg and Trino use too.

The pyspark 4.1 wheel carries `jars/spark-connect_2.13-*.jar` but no `sbin/start-connect-server.sh`, so the
server is started with `bin/spark-submit --class org.apache.spark.sql.connect.service.SparkConnectServer` (the
launcher knows this class and needs no application jar). `spark-class` execs the JVM, so the pid started is the
JVM's; it runs in its own session (process group). PySpark's Python-UDF daemon makes a process group of its own,
so `stop` also ends the JVM's descendants that left its group.

The jars go on the driver's class path, not `--jars`, because `java.sql.DriverManager` only sees drivers of the
system class loader (in `local` mode the driver is the only executor). What is installed (pyspark's Spark, Java,
the jars) is stack/spark_install.py; the shared catalog's Spark settings are stack/spark_catalog.py.

Per project, under `stack/spark/`: `server.log` (and `server.previous.log`), `process.json`,
`conf/log4j2.properties`, `work/` (shuffle and spill files). The catalog password reaches the JVM through a 0600
properties file deleted once the server listens: never a command line (`ps` shows those) nor a log.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from akko_orchestrator.lakehouse.spark_session import stop_session
from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.maven import fetch_maven
from akko_orchestrator.stack.process import (
    LOOPBACK,
    PortTaken,
    ProcessRecord,
    StackError,
    file_lock,
    kill_process_group,
    launch,
    listening_record,
    listening_status,
    port_is_free,
    start_on_free_port,
    wait_listening,
    write_private,
)
from akko_orchestrator.stack.spark_catalog import CatalogSource, IcebergJdbcCatalog, iceberg_conf
from akko_orchestrator.stack.spark_install import ARTIFACTS, spark_home, spark_java_home, spark_version

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 420.0  # seconds: a cold JVM on a 2-core machine shared with Trino (~5-25 s when it is quiet)
STOP_TIMEOUT = 30.0  # seconds between SIGTERM (Spark's shutdown hooks) and SIGKILL


# -- the JVM's processes and settings -------------------------------------------------------------------------


def process_tree(pid: int) -> set[int]:
    """`pid` and its live descendants: the JVM, PySpark's UDF daemon and its workers."""
    import psutil

    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


def _stop_tree(pid: int) -> None:
    """SIGTERM the JVM's group (Spark runs its shutdown hooks), SIGKILL it after a while; then kill descendants
    that left the group (PySpark's daemon calls setpgid) if they did not exit with the JVM."""
    import psutil

    forked: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        forked = psutil.Process(pid).children(recursive=True)
    kill_process_group(pid, STOP_TIMEOUT)
    _, alive = psutil.wait_procs(forked, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()  # psutil checks the pid still names the same process
    psutil.wait_procs(alive, timeout=10)


def _escape_property(text: str, key: bool = False) -> str:
    """java.util.Properties escaping: `\\`, line breaks and a leading space (in keys also `=`, `:`, `#`, `!`)."""
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        return re.sub(r"([=:#! ])", r"\\\1", text)
    return "\\" + text if text.startswith(" ") else text


def _summary(error: str) -> str:
    """A server error's first line and its `Caused by:` lines, without the JVM stack trace."""
    lines = error.splitlines()
    return " ".join(lines[:1] + [line.strip() for line in lines if line.startswith("Caused by:")])


def remote_url(port: int) -> str:
    return f"sc://{LOOPBACK}:{port}"


LOG4J2 = """\
# Spark and Spark Connect log every task and request at INFO: WARN keeps server.log small on a long-running
# stack; the server's start line is kept.
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.server.name = org.apache.spark.sql.connect.service.SparkConnectServer
logger.server.level = info
"""


# -- the service ----------------------------------------------------------------------------------------------


class SparkConnectService(Service):
    """A local Spark Connect server (`local[cores]`) whose default catalog is the shared Iceberg catalog."""

    name = "spark"

    def __init__(
        self,
        paths: StackPaths,
        catalog: CatalogSource,
        *,
        port: int | None = None,
        cores: int = 2,
        driver_memory: str = "2g",
        start_timeout: float = START_TIMEOUT,
        probe: bool = True,
    ):
        super().__init__(paths)
        self.catalog_source = catalog
        self.port = port
        self.cores = cores
        self.driver_memory = driver_memory
        self.start_timeout = start_timeout
        self.probe = probe  # open the catalog once at start: a bad URL or password fails `up`, not a pipeline
        self.probe_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def properties_file(self) -> Path:
        return self.dir / "spark.properties"

    def catalog(self) -> IcebergJdbcCatalog:
        source = self.catalog_source
        return source if isinstance(source, IcebergJdbcCatalog) else source()

    def jars(self) -> list[Path]:
        return [fetch_maven(artifact, self.paths.cache) for artifact in ARTIFACTS]

    # -- Service --------------------------------------------------------------------------------------------

    def install(self) -> None:
        spark_home()
        spark_java_home()
        self.jars()

    def start(self) -> ServiceEnv:
        """Start the server, or find it running; return `AKKO_SPARK_REMOTE`."""
        # Two `akko stack up` at once: the second waits, then finds the server running.
        with file_lock(self.dir / ".lock"):
            record = listening_record(self.record_file)
            if record is None:
                self._stop_unlocked()  # a server alive but not listening is replaced, not leaked
                self.install()
                record = self._start_with_retries()
        return ServiceEnv({"AKKO_SPARK_REMOTE": remote_url(record.port)})

    def stop(self) -> None:
        with file_lock(self.dir / ".lock"):
            self._stop_unlocked()

    def status(self) -> ServiceStatus:
        return listening_status(
            self.name,
            self.record_file,
            self.log_file,
            remote_url,
            f"Spark Connect {spark_version()}, local[{self.cores}]; log: {self.log_file}",
        )

    # -- starting -------------------------------------------------------------------------------------------

    def _start_with_retries(self) -> ProcessRecord:
        catalog = self.catalog()
        return start_on_free_port(lambda port: self._start_once(catalog, port), self.port, self.record_file)

    def _start_once(self, catalog: IcebergJdbcCatalog, port: int) -> ProcessRecord:
        if not port_is_free(port):  # found now, not after a JVM start-up of many seconds
            raise PortTaken(port)
        began = time.monotonic()
        # Downloads (if any) are not start-up time.
        java_home, command = spark_java_home(), self._command(port)
        self._write_config(catalog)
        env = self._environment(java_home)
        self._process, record = launch(
            command, cwd=self.dir, env=env, log_file=self.log_file, record_file=self.record_file, port=port
        )
        try:
            wait_listening(
                self._process, port, what="Spark Connect", log_file=self.log_file, timeout=self.start_timeout
            )
            record.startup_seconds = round(time.monotonic() - began, 1)
            self.properties_file.unlink(missing_ok=True)  # read by now: the password leaves the disk
            if self.probe:
                self.probe_seconds = self._probe_catalog(catalog.name, port)
        except BaseException:
            self._stop_unlocked()
            raise
        record.save(self.record_file)
        self._log_line(
            f"akko: listening after {record.startup_seconds} s, catalog probe {self.probe_seconds} s"
        )
        return record

    def _command(self, port: int) -> list[str]:
        return [
            str(spark_home() / "bin" / "spark-submit"),
            "--master",
            f"local[{self.cores}]",
            "--name",
            "akko-spark-connect",
            "--driver-memory",
            self.driver_memory,
            "--driver-class-path",
            os.pathsep.join(str(jar) for jar in self.jars()),
            "--properties-file",
            str(self.properties_file),
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--class",
            SERVER_CLASS,
        ]

    def _environment(self, java_home: Path) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            # A client's SPARK_REMOTE/connect mode or another Spark's settings must not reach the server.
            if not key.startswith(("SPARK_", "PYSPARK_"))
            and key not in {"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS"}
        }
        env["JAVA_HOME"] = str(
            java_home
        )  # spark-class prefers JAVA_HOME over PATH (it may be Trino's Java 25)
        env["SPARK_HOME"] = str(spark_home())
        env["SPARK_CONF_DIR"] = str(self.dir / "conf")  # our log4j2.properties, never a stray spark-defaults
        env["SPARK_LOCAL_IP"] = LOOPBACK  # else Spark resolves the host name and may pick a public interface
        env["SPARK_LOCAL_DIRS"] = str(
            self.dir / "work"
        )  # shuffle/spill; `spark.local.dir` warns in local mode
        env["PYSPARK_PYTHON"] = sys.executable  # Python UDFs run in this interpreter (it has pyspark)
        return env

    def _write_config(self, catalog: IcebergJdbcCatalog) -> None:
        (self.dir / "conf").mkdir(exist_ok=True)
        (self.dir / "work").mkdir(exist_ok=True)
        (self.dir / "conf" / "log4j2.properties").write_text(LOG4J2)
        lines = [
            f"{_escape_property(k, key=True)}={_escape_property(v)}"
            for k, v in self.spark_conf(catalog).items()
        ]
        write_private(self.properties_file, "\n".join(lines) + "\n")

    def spark_conf(self, catalog: IcebergJdbcCatalog) -> dict[str, str]:
        """Every setting of the server (it holds the catalog password: never log it)."""
        return {
            # Loopback only, no UI: nothing listens beyond the Connect port and the driver's own RPC ports.
            "spark.connect.grpc.binding.address": LOOPBACK,
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.ui.enabled": "false",
            # A 2-core machine shared with Trino: few shuffle partitions, no Hive/Derby metastore.
            "spark.sql.shuffle.partitions": str(self.cores * 2),
            "spark.default.parallelism": str(self.cores),
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.warehouse.dir": (self.dir / "spark-warehouse").as_uri(),
            # The same instants wherever the stack runs.
            "spark.sql.session.timeZone": "UTC",
            "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
            **iceberg_conf(catalog),
        }

    def _probe_catalog(self, catalog_name: str, port: int) -> float:
        """List the catalog's namespaces: Iceberg opens the JDBC catalog now (and loads its classes), so a wrong
        URL or password fails here with the cause. Through Spark's catalog API (the catalog by name, no SQL
        text): the session is this probe's own, stopped right after."""
        from pyspark.sql import SparkSession

        began = time.monotonic()
        session = SparkSession.builder.remote(remote_url(port)).create()
        try:
            session.catalog.setCurrentCatalog(catalog_name)
            session.catalog.listDatabases()
        except Exception as exc:  # the causes name the problem (authentication, unknown database, ...)
            raise StackError(
                f"Spark Connect cannot open the Iceberg catalog: {_summary(str(exc))} (log: {self.log_file})"
            ) from None
        finally:
            stop_session(session)
        return round(time.monotonic() - began, 1)

    # -- stopping -------------------------------------------------------------------------------------------

    def _stop_unlocked(self) -> None:
        record = ProcessRecord.load(self.record_file)
        if record is not None and record.alive():
            _stop_tree(record.pid)
        if self._process is not None:
            self._process.wait(timeout=STOP_TIMEOUT)  # reap it: no zombie left in a long-lived caller
            self._process = None
        self.properties_file.unlink(missing_ok=True)

    def _log_line(self, line: str) -> None:
        with self.log_file.open("a") as log:
            log.write(line + "\n")
