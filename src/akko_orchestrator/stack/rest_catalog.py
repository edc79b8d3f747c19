"""An Iceberg REST catalog for the stack, with OAuth2 client credentials: the `rest` catalog type (what AKKO uses
with Apache Polaris in production) on this machine.

Apache Polaris publishes no runnable server to Maven Central (only library jars: `polaris-core`,
`polaris-runtime-service`; the server ships as a container image and an ASF tarball), so this service runs Apache
Iceberg's own REST catalog server code, the code behind the `apache/iceberg-rest-fixture` image:
`RESTCatalogAdapter` and `RESTCatalogServlet` (the `iceberg-core` tests jar) over Iceberg's `JdbcCatalog` on a
SQLite file, served by Jetty 12. The fixture's own `RESTCatalogServer` cannot be used as is: it listens on every
interface and hands a token to any client. So a small launcher, `java/AkkoRestCatalogServer.java`, compiled once
into the cache with the JDK's `javac`, adds what Polaris has and the fixture lacks:
- OAuth2 client credentials at `/v1/oauth/tokens` (form fields or HTTP Basic): one client, `client_id:secret`
  generated once per state folder; a wrong secret is `401 invalid_client`; every other request needs the bearer
  token it issued;
- the client's `warehouse` must be the catalog's name (the project's lakehouse), as in Polaris;
- a loopback-only listener, and a Hadoop-free FileIO for the local `file://` warehouse.

Jars come from Maven Central (`AKKO_MAVEN_REPOSITORY` for a mirror) into the shared cache, each checked against
its `.sha1`, through stack/maven.py. Java: a JDK 17+ with `javac` (stack/jdk.py: AKKO_REST_JAVA_HOME, then the
candidates Spark looks at: AKKO_SPARK_JAVA_HOME, JAVA_HOME, `java` on PATH, /usr/lib/jvm).

Per project, under `stack/rest-catalog/`: `catalog.db` (SQLite, the catalog's tables), `warehouse/` (metadata and
data files), `credential` (0600), `server.log`, `process.json`. The secret reaches the JVM through its environment
(readable by its user only), never its command line nor a log.

Published variables: AKKO_REST_CATALOG_URI, AKKO_REST_WAREHOUSE (the catalog name to pass as `warehouse`),
AKKO_REST_CREDENTIAL (`client_id:client_secret`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.jdk import find_java_home
from akko_orchestrator.stack.maven import SQLITE_JDBC, MavenArtifact, fetch_maven
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
    log_tail,
    port_is_free,
    start_on_free_port,
    wait_listening,
    write_private,
)

ICEBERG_VERSION = "1.11.0"
JETTY_VERSION = "12.1.8"
MAIN_CLASS = "akko.rest.AkkoRestCatalogServer"
SOURCE = Path(__file__).with_name("java") / "AkkoRestCatalogServer.java"
CLIENT_ID = "akko"
START_TIMEOUT = 180.0  # seconds: a cold JVM on a busy 2-core machine (~2-5 s when quiet)
STOP_TIMEOUT = 20.0


# The class path of Iceberg's REST server code (iceberg-core's runtime dependencies it loads, Jetty 12's servlet
# stack, SQLite's driver); no Hadoop: the launcher's FileIO writes local files itself.
ARTIFACTS = (
    MavenArtifact("org.apache.iceberg", "iceberg-api", ICEBERG_VERSION),
    MavenArtifact("org.apache.iceberg", "iceberg-common", ICEBERG_VERSION),
    MavenArtifact("org.apache.iceberg", "iceberg-bundled-guava", ICEBERG_VERSION),
    MavenArtifact("org.apache.iceberg", "iceberg-core", ICEBERG_VERSION),
    # iceberg-core's tests jar holds Iceberg's REST server code: RESTCatalogAdapter, RESTCatalogServlet.
    MavenArtifact("org.apache.iceberg", "iceberg-core", ICEBERG_VERSION, "tests"),
    MavenArtifact("org.apache.avro", "avro", "1.12.1"),
    MavenArtifact("io.airlift", "aircompressor", "2.0.3"),
    MavenArtifact("com.github.ben-manes.caffeine", "caffeine", "2.9.3"),
    MavenArtifact("org.roaringbitmap", "RoaringBitmap", "1.6.14"),
    MavenArtifact("com.fasterxml.jackson.core", "jackson-core", "2.21.3"),
    MavenArtifact("com.fasterxml.jackson.core", "jackson-databind", "2.21.3"),
    MavenArtifact("com.fasterxml.jackson.core", "jackson-annotations", "2.21"),
    MavenArtifact("org.apache.httpcomponents.client5", "httpclient5", "5.6.1"),
    MavenArtifact("org.apache.httpcomponents.core5", "httpcore5", "5.4"),
    MavenArtifact("org.apache.httpcomponents.core5", "httpcore5-h2", "5.4"),
    MavenArtifact("org.slf4j", "slf4j-api", "2.0.17"),
    MavenArtifact("org.slf4j", "slf4j-simple", "2.0.17"),
    MavenArtifact("jakarta.servlet", "jakarta.servlet-api", "6.1.0"),
    MavenArtifact("org.eclipse.jetty", "jetty-util", JETTY_VERSION),
    MavenArtifact("org.eclipse.jetty", "jetty-io", JETTY_VERSION),
    MavenArtifact("org.eclipse.jetty", "jetty-http", JETTY_VERSION),
    MavenArtifact("org.eclipse.jetty", "jetty-server", JETTY_VERSION),
    MavenArtifact("org.eclipse.jetty", "jetty-security", JETTY_VERSION),
    MavenArtifact("org.eclipse.jetty", "jetty-session", JETTY_VERSION),
    MavenArtifact("org.eclipse.jetty.ee10", "jetty-ee10-servlet", JETTY_VERSION),
    SQLITE_JDBC,
)


def find_jdk() -> Path:
    """A Java 17+ home with `javac` (the launcher is compiled once): AKKO_REST_JAVA_HOME, then the Java homes
    stack/spark_install.py considers (AKKO_SPARK_JAVA_HOME, JAVA_HOME, `java` on PATH, /usr/lib/jvm)."""
    return find_java_home(
        lambda major: major >= 17,
        ("AKKO_REST_JAVA_HOME", "AKKO_SPARK_JAVA_HOME", "JAVA_HOME"),
        javac=True,
        missing="the REST catalog needs a JDK 17+ with javac and none was found: install openjdk-17-jdk-headless, "
        "or set AKKO_REST_JAVA_HOME",
    )


def catalog_uri(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


class RestCatalogService(Service):
    """Iceberg's REST catalog server on loopback, JDBC catalog on SQLite, OAuth2 client credentials."""

    name = "rest-catalog"

    def __init__(
        self,
        paths: StackPaths,
        *,
        catalog_name: str,
        port: int | None = None,
        start_timeout: float = START_TIMEOUT,
    ):
        super().__init__(paths)
        self.catalog_name = catalog_name
        self.port = port
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def warehouse_location(self) -> str:
        return (self.dir / "warehouse").as_uri()

    def credential(self) -> str:
        """`client_id:client_secret`, generated once per state folder, kept 0600."""
        path = self.dir / "credential"
        with contextlib.suppress(OSError):
            stored = path.read_text().strip()
            if stored.startswith(f"{CLIENT_ID}:"):
                return stored
        value = f"{CLIENT_ID}:{secrets.token_urlsafe(24)}"
        write_private(path, value + "\n")
        return value

    def jars(self) -> list[Path]:
        return [fetch_maven(artifact, self.paths.cache) for artifact in ARTIFACTS]

    def classes_dir(self) -> Path:
        """The compiled launcher in the cache, keyed by its source and the Iceberg/Jetty versions it is built on."""
        key = hashlib.sha256(SOURCE.read_bytes() + f"{ICEBERG_VERSION}/{JETTY_VERSION}".encode()).hexdigest()
        return self.paths.cache / "rest-catalog" / f"launcher-{key[:16]}"

    # -- Service --------------------------------------------------------------------------------------------

    def install(self) -> None:
        jars = self.jars()
        target = self.classes_dir()
        if (target / "akko" / "rest" / "AkkoRestCatalogServer.class").is_file():
            return
        javac = find_jdk() / "bin" / "javac"
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        result = subprocess.run(
            [str(javac), "--release", "17", "-nowarn", "-d", str(partial)]
            + ["-cp", os.pathsep.join(map(str, jars)), str(SOURCE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"cannot compile {SOURCE.name}:\n{result.stderr[-3000:]}")
        try:
            os.replace(partial, target)  # atomic: a concurrent install sees all classes or none
        except OSError:
            subprocess.run(["rm", "-rf", str(partial)], check=False)  # another install won the race

    def start(self) -> ServiceEnv:
        with file_lock(self.dir / ".lock"):
            record = listening_record(self.record_file)
            if record is None:
                self._stop_unlocked()  # alive but not listening: replaced, not leaked
                self.install()
                record = start_on_free_port(self._start_once, self.port, self.record_file)
        return ServiceEnv(
            {
                "AKKO_REST_CATALOG_URI": catalog_uri(record.port),
                "AKKO_REST_WAREHOUSE": self.catalog_name,
                "AKKO_REST_CREDENTIAL": self.credential(),
            }
        )

    def stop(self) -> None:
        with file_lock(self.dir / ".lock"):
            self._stop_unlocked()

    def status(self) -> ServiceStatus:
        return listening_status(
            self.name,
            self.record_file,
            self.log_file,
            catalog_uri,
            f"Iceberg {ICEBERG_VERSION} REST catalog '{self.catalog_name}' (JDBC on SQLite), OAuth2 client "
            f"credentials; log: {self.log_file}",
        )

    # -- starting -------------------------------------------------------------------------------------------

    def _start_once(self, port: int) -> ProcessRecord:
        if not port_is_free(port):
            raise PortTaken(port)
        began = time.monotonic()
        java = find_jdk() / "bin" / "java"
        classpath = os.pathsep.join([str(self.classes_dir()), *map(str, self.jars())])
        (self.dir / "warehouse").mkdir(exist_ok=True)
        command = [
            str(java),
            "-Xmx384m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # a small server: fast start matters more than peak throughput
            "-Duser.timezone=UTC",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp",
            classpath,
            MAIN_CLASS,
        ]
        env = self._environment(port)
        self._process, record = launch(
            command, cwd=self.dir, env=env, log_file=self.log_file, record_file=self.record_file, port=port
        )
        try:
            self._wait_ready(port)
        except BaseException:
            self._stop_unlocked()
            raise
        record.startup_seconds = round(time.monotonic() - began, 1)
        record.save(self.record_file)
        with self.log_file.open("a") as log:
            log.write(f"akko: ready after {record.startup_seconds} s\n")
        return record

    def _environment(self, port: int) -> dict[str, str]:
        client_id, _, secret = self.credential().partition(":")
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AKKO_", "CATALOG_")) and key not in {"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS"}
        }
        env.update(
            {
                "AKKO_REST_HOST": LOOPBACK,
                "AKKO_REST_PORT": str(port),
                "AKKO_REST_CATALOG": self.catalog_name,
                "AKKO_REST_JDBC_URI": f"jdbc:sqlite:{self.dir / 'catalog.db'}",
                "AKKO_REST_WAREHOUSE_LOCATION": self.warehouse_location,
                "AKKO_REST_CLIENT_ID": client_id,
                "AKKO_REST_CLIENT_SECRET": secret,
            }
        )
        return env

    def _wait_ready(self, port: int) -> None:
        """Listening, then a real client round trip: a token for our credential, then `/v1/config`."""
        assert self._process is not None
        wait_listening(
            self._process,
            port,
            what="the REST catalog",
            log_file=self.log_file,
            timeout=self.start_timeout,
            poll=0.3,
        )
        self._probe(port)

    def _probe(self, port: int) -> None:
        base = catalog_uri(port)
        try:
            token = request_token(base, self.credential())
            request = urllib.request.Request(
                f"{base}/v1/config?{urlencode({'warehouse': self.catalog_name})}",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                json.loads(response.read())
        except (OSError, ValueError) as exc:  # HTTPError is an OSError
            raise StackError(
                f"the REST catalog listens but does not answer: {exc}\n{log_tail(self.log_file, 40)}"
            ) from None

    # -- stopping -------------------------------------------------------------------------------------------

    def _stop_unlocked(self) -> None:
        record = ProcessRecord.load(self.record_file)
        if record is not None and record.alive():
            kill_process_group(record.pid, STOP_TIMEOUT)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=STOP_TIMEOUT)  # reap it: no zombie in a long-lived caller
            self._process = None


def request_token(base_uri: str, credential: str) -> str:
    """An OAuth2 client-credentials token from `<base_uri>/v1/oauth/tokens` (HTTP Basic, as RFC 6749 prefers)."""
    basic = base64.b64encode(credential.encode()).decode()
    request = urllib.request.Request(
        f"{base_uri}/v1/oauth/tokens",
        data=urlencode({"grant_type": "client_credentials", "scope": "PRINCIPAL_ROLE:ALL"}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read())["access_token"])
    except urllib.error.HTTPError as exc:
        raise StackError(f"token request refused: HTTP {exc.code}") from None
