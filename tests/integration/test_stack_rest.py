"""`akko stack`'s Iceberg REST catalog (the `rest` catalog type AKKO uses with Polaris), end to end on this machine.

Only the REST catalog service is started (through a `StackManager` of that one service, so its variables reach
the 0600 env file as with `akko stack up --rest-catalog`). A project whose profile reaches it only through those
variables (`catalog: {type: rest, uri: ${AKKO_REST_CATALOG_URI}, ..., credential: {env: AKKO_REST_CREDENTIAL}}`)
opens it with `lakehouse.catalog.open_catalog`, as a pipeline step does, and writes with `lakehouse.writer`.
A wrong client secret must be refused with a clear error that names where the secret comes from and contains no
secret; the last test stops the server and checks that no process is left and the catalog survives a restart.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output
from akko_orchestrator.stack.base import StackPaths
from akko_orchestrator.stack.manager import LOOPBACK, StackManager, StackOptions, build_stack, read_env_file
from akko_orchestrator.stack.rest_catalog import RestCatalogService, request_token

# A cold cache downloads ~30 MB of jars and compiles the launcher: that counts against the first test.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

NS = "rest_it"

PROJECT_YAML = """\
project: rest-it
lakehouse: akko
profile: rest
profiles:
  rest:
    catalog:
      type: rest
      uri: ${AKKO_REST_CATALOG_URI}
      warehouse: ${AKKO_REST_WAREHOUSE}
      credential: {env: AKKO_REST_CREDENTIAL}
"""


@dataclass
class RestStack:
    service: RestCatalogService
    manager: StackManager
    project_dir: Path
    env: dict[str, str]  # the env file's variables
    startup_seconds: float

    def project(self) -> Project:
        return load_project(self.project_dir, profile="rest")


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestStack]:
    base = tmp_path_factory.mktemp("stack-rest")
    project_dir = base / "project"
    project_dir.mkdir()
    (project_dir / "akko.yaml").write_text(PROJECT_YAML)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AKKO_STATE_DIR", "AKKO_PROJECT_DIR", "AKKO_PROFILE"):
            patch.delenv(name, raising=False)
        paths = StackPaths.for_state_dir(project_dir / ".akko")  # the real download cache (AKKO_CACHE_DIR)
        service = RestCatalogService(paths, catalog_name="akko")
        manager = StackManager(paths, [service])
        began = time.monotonic()
        try:
            manager.up()
            startup = time.monotonic() - began
            env = read_env_file(paths.env_file)
            for key, value in env.items():
                patch.setenv(key, value)
            yield RestStack(service, manager, project_dir, env, startup)
        finally:
            manager.down()
    print(f"\nREST catalog: up (install + start) {startup:.1f} s")


def test_env_file_publishes_the_catalog(rest: RestStack) -> None:
    env = rest.env
    assert env["AKKO_REST_CATALOG_URI"].startswith(f"http://{LOOPBACK}:")
    assert env["AKKO_REST_WAREHOUSE"] == "akko"
    client_id, _, secret = env["AKKO_REST_CREDENTIAL"].partition(":")
    assert client_id and len(secret) >= 24
    assert stat.S_IMODE(rest.manager.paths.env_file.stat().st_mode) == 0o600
    status = rest.service.status()
    assert status.running and status.endpoint == env["AKKO_REST_CATALOG_URI"]
    # Loopback only (Iceberg's own fixture would listen on every interface).
    listening = [
        c for c in psutil.Process(status.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(c.laddr.ip in (LOOPBACK, f"::ffff:{LOOPBACK}") for c in listening)


def test_catalog_needs_a_token(rest: RestStack) -> None:
    """Without a bearer token the catalog answers 401; the token endpoint gives one only for the credential."""
    base = rest.env["AKKO_REST_CATALOG_URI"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/v1/namespaces", timeout=30)
    assert refused.value.code == 401
    token = request_token(base, rest.env["AKKO_REST_CREDENTIAL"])
    request = urllib.request.Request(f"{base}/v1/namespaces", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_pipeline_writes_and_reads_through_rest(rest: RestStack) -> None:
    """open_catalog as a step does; create a namespace; write (create, then append, then merge); read back."""
    catalog = open_catalog(rest.project())
    catalog.create_namespace_if_not_exists(NS)
    assert (NS,) in catalog.list_namespaces()

    first = pa.table({"id": [1, 2, 3], "name": ["Ana", "Björn", "Chen"], "amount": [10.5, 99.99, 5.0]})
    created = write_table(catalog, Output(table=f"{NS}.sales"), first, {"akko.pipeline": "rest_it"})
    assert created.created
    more = pa.table({"id": [4], "name": ["Dalia"], "amount": [1200.0]})
    write_table(catalog, Output(table=f"{NS}.sales", mode="append"), more)
    changes = pa.table({"id": [2, 5], "name": ["Björn B.", "Émile"], "amount": [100.0, 0.01]})
    write_table(catalog, Output(table=f"{NS}.sales", mode="merge", keys=["id"]), changes)

    # A second client (a later step) sees every commit.
    table = open_catalog(rest.project()).load_table(f"{NS}.sales")
    rows = sorted(table.scan().to_arrow().to_pylist(), key=lambda row: row["id"])
    assert rows == [
        {"id": 1, "name": "Ana", "amount": 10.5},
        {"id": 2, "name": "Björn B.", "amount": 100.0},
        {"id": 3, "name": "Chen", "amount": 5.0},
        {"id": 4, "name": "Dalia", "amount": 1200.0},
        {"id": 5, "name": "Émile", "amount": 0.01},
    ]
    assert len(table.history()) == 3  # one commit per write
    assert table.snapshots()[0].summary["akko.pipeline"] == "rest_it"
    # Metadata and data files are real files under the service's file:// warehouse.
    assert table.location().startswith(rest.service.warehouse_location)
    assert list((rest.service.dir / "warehouse" / NS / "sales" / "data").glob("*.parquet"))


def test_wrong_secret_is_a_clear_error_without_the_secret(
    rest: RestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, _, good = rest.env["AKKO_REST_CREDENTIAL"].partition(":")
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    monkeypatch.setenv("AKKO_REST_CREDENTIAL", f"{client_id}:{wrong}")
    with pytest.raises(ConfigError) as refused:
        open_catalog(rest.project())
    message = str(refused.value)
    assert "AKKO_REST_CREDENTIAL" in message and "invalid_client" in message
    assert rest.env["AKKO_REST_CATALOG_URI"] in message
    assert wrong not in message and good not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__  # no chained response text
    log = rest.service.log_file.read_text()
    assert wrong not in log and good not in log


def test_unreachable_catalog_is_a_clear_error(rest: RestStack, monkeypatch: pytest.MonkeyPatch) -> None:
    from akko_orchestrator.stack.process import free_port

    monkeypatch.setenv("AKKO_REST_CATALOG_URI", f"http://{LOOPBACK}:{free_port()}")
    with pytest.raises(ConfigError, match="cannot reach the REST catalog"):
        open_catalog(rest.project())


def test_build_stack_adds_the_rest_catalog_when_asked(
    rest: RestStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKKO_STATE_DIR", str(rest.project_dir / "other-state"))  # nothing runs there
    project = rest.project()
    assert "rest-catalog" not in [s.name for s in build_stack(project).services]
    asked = build_stack(project, StackOptions(rest_catalog=True)).services
    assert asked[-1].name == "rest-catalog"
    monkeypatch.setenv("AKKO_STACK_REST_CATALOG", "1")
    assert build_stack(project).services[-1].name == "rest-catalog"


def test_stop_leaves_no_process_and_restart_keeps_the_catalog(rest: RestStack) -> None:
    status = rest.service.status()
    assert status.pid is not None
    tree = [psutil.Process(status.pid), *psutil.Process(status.pid).children(recursive=True)]
    rest.service.stop()
    assert not rest.service.status().running
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    port = int(rest.env["AKKO_REST_CATALOG_URI"].rsplit(":", 1)[1])
    assert not any(
        c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in psutil.net_connections("inet")
    )
    rest.service.stop()  # idempotent

    # The SQLite catalog and the credential persist: a restart serves the same table to the same credential.
    # (The port is the previous one only if it can be bound again: server-side TIME_WAIT sockets may prevent it.)
    env = rest.service.start().variables
    assert env["AKKO_REST_CREDENTIAL"] == rest.env["AKKO_REST_CREDENTIAL"]
    assert env["AKKO_REST_WAREHOUSE"] == rest.env["AKKO_REST_WAREHOUSE"]
    os.environ["AKKO_REST_CATALOG_URI"] = env["AKKO_REST_CATALOG_URI"]  # restored by the module fixture
    table = open_catalog(rest.project()).load_table(f"{NS}.sales")
    assert table.scan().to_arrow().num_rows == 5
    rest.service.stop()
    assert not rest.service.status().running
    assert os.path.exists(rest.service.dir / "catalog.db")
