"""`akko stack` for real: PostgreSQL + Trino started by the stack manager, and interoperation on the one shared
Iceberg catalog (Iceberg's JDBC catalog schema in PostgreSQL, warehouse on the local filesystem).

- pyiceberg (opened from a project profile fed by the stack's env file) writes a partitioned table; Trino reads
  the same rows, partitions and snapshots;
- Trino writes with CREATE TABLE AS, INSERT and MERGE; pyiceberg reads the same rows and snapshots, and its own
  append is then seen by Trino;
- Trino's `postgresql` catalog reads the operational database, and copies it into Iceberg;
- the catalog tables agree with pyiceberg's models and with the Iceberg library Trino bundles;
- Trino authenticates clients as production does: HTTPS with the stack's certificate and the generated password
  works; a wrong password or user is a 401 that never shows a password; no credential, or plain HTTP, is refused;
- the Airflow connections in the env file work through the Airflow providers' hooks;
- `akko stack status|down` from another process: running, then stopped with no process left.

The stack starts once for the module (a cold start downloads Trino once per machine into the real cache).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `tests.fixtures` importable without a root conftest
    sys.path.insert(0, str(_ROOT))

from tests.fixtures.stack_services import RunningStack, running_stack, stack_processes  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

NAMESPACE = "interop"
CLI_TIMEOUT = 300
REQUIRED_VARIABLES = {
    "AKKO_PG_HOST",
    "AKKO_PG_PORT",
    "AKKO_CATALOG_NAME",
    "AKKO_CATALOG_URI",
    "AKKO_CATALOG_JDBC_URL",
    "AKKO_CATALOG_USER",
    "AKKO_CATALOG_PASSWORD",
    "AKKO_WAREHOUSE",
    "AKKO_OPERATIONAL_JDBC_URL",
    "AKKO_OPERATIONAL_USER",
    "AKKO_OPERATIONAL_PASSWORD",
    "AIRFLOW_CONN_AKKO_OPERATIONAL",
    "AKKO_TRINO_HOST",
    "AKKO_TRINO_PORT",
    "AKKO_TRINO_URL",
    "AKKO_TRINO_USER",
    "AKKO_TRINO_PASSWORD",
    "AKKO_TRINO_CA",
    "AIRFLOW_CONN_AKKO_TRINO",
}
# requests lets these override any session's CA file (psf/requests#3829); see trino.https_session.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
def catalog(stack: RunningStack) -> Any:
    """pyiceberg on the shared catalog, opened the way a pipeline step opens it: the project's `stack` profile,
    whose values come from the env file's variables."""
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog

    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack.env.items():
            patch.setenv(key, value)
        catalog = open_catalog(load_project(profile="stack"))
        catalog.create_namespace_if_not_exists(NAMESPACE)
        yield catalog


def trino_connect(
    stack: RunningStack, user: str | None = None, password: str | None = None, **options: Any
) -> Any:
    """A Trino client connection the way a user makes one from the env file: HTTPS, basic authentication, the
    stack's certificate as the only trusted one."""
    import trino

    from akko_orchestrator.stack.trino import https_session

    env = stack.env
    user = user or env["AKKO_TRINO_USER"]
    return trino.dbapi.connect(
        host=env["AKKO_TRINO_HOST"],
        port=int(env["AKKO_TRINO_PORT"]),
        user=user,
        http_scheme="https",
        auth=trino.auth.BasicAuthentication(user, password or env["AKKO_TRINO_PASSWORD"]),
        http_session=https_session(Path(env["AKKO_TRINO_CA"])),
        **options,
    )


@pytest.fixture(scope="module")
def trino(stack: RunningStack) -> Any:
    conn = trino_connect(stack, catalog="iceberg", schema=NAMESPACE)
    yield conn
    conn.close()


def trino_service(stack: RunningStack) -> Any:
    from akko_orchestrator.stack.trino import TrinoService

    return next(s for s in stack.manager.services if isinstance(s, TrinoService))


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = conn.cursor()
    cursor.execute(sql)
    return [tuple(row) for row in cursor.fetchall()]


def iceberg_rows(catalog: Any, table: str, order_by: str = "id") -> list[tuple[Any, ...]]:
    rows = catalog.load_table(f"{NAMESPACE}.{table}").scan().to_arrow().sort_by(order_by).to_pylist()
    return [tuple(row.values()) for row in rows]


# ---------------------------------------------------------------------------------------------------------------
# The stack itself


def test_env_file_endpoints_and_secrets(stack: RunningStack) -> None:
    from sqlalchemy.engine import make_url

    env_file = stack.manager.paths.env_file
    passwords_file = stack.state_dir / "stack" / "postgres" / "passwords.json"
    trino_secrets_file = stack.state_dir / "stack" / "trino" / "passwords.json"
    keystore = stack.state_dir / "stack" / "trino" / "tls" / "server.pem"
    password_db = stack.state_dir / "stack" / "trino" / "etc" / "password.db"
    for private in (env_file, passwords_file, trino_secrets_file, keystore, password_db):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert set(stack.env) >= REQUIRED_VARIABLES
    assert make_url(stack.env["AKKO_CATALOG_URI"]).password is None  # the secret is its own variable
    assert (
        stack.env["AKKO_CATALOG_NAME"] == "akko"
    )  # the lakehouse name: pyiceberg's and Trino's catalog name
    assert stack.env["AKKO_TRINO_URL"] == f"https://127.0.0.1:{stack.env['AKKO_TRINO_PORT']}"
    assert stack.env["AKKO_TRINO_CA"] == str(stack.state_dir / "stack" / "trino" / "tls" / "ca.pem")
    # The password file holds a PBKDF2 hash in Trino's format (iterations:salt:hash, lower-case hex), not the password.
    user, iterations, salt, digest = password_db.read_text().strip().split(":")
    assert user == stack.env["AKKO_TRINO_USER"] == "akko"
    assert int(iterations) >= 1000 and re.fullmatch(r"[0-9a-f]+", salt + digest)
    # No password or secret is written anywhere else in the state folder (configs, logs, process records, data).
    secrets = [
        v.encode() for f in (passwords_file, trino_secrets_file) for v in json.loads(f.read_text()).values()
    ]
    assert stack.env["AKKO_TRINO_PASSWORD"].encode() in secrets
    for path in stack.state_dir.rglob("*"):
        if (
            path.is_file()
            and path not in (env_file, passwords_file, trino_secrets_file)
            and path.stat().st_size < 50_000_000
        ):
            content = path.read_bytes()
            assert not any(secret in content for secret in secrets), f"a password is written in {path}"


def test_airflow_trino_connection_uri(stack: RunningStack) -> None:
    """What Airflow parses out of AIRFLOW_CONN_AKKO_TRINO: login, password, and the extras TrinoHook reads."""
    from urllib.parse import parse_qs, unquote, urlsplit

    uri = urlsplit(stack.env["AIRFLOW_CONN_AKKO_TRINO"])
    assert (uri.scheme, uri.hostname, uri.port) == ("trino", "127.0.0.1", int(stack.env["AKKO_TRINO_PORT"]))
    assert (unquote(uri.username or ""), unquote(uri.password or "")) == (
        stack.env["AKKO_TRINO_USER"],
        stack.env["AKKO_TRINO_PASSWORD"],
    )
    assert parse_qs(uri.query) == {
        "catalog": ["iceberg"],
        "protocol": ["https"],
        "verify": [stack.env["AKKO_TRINO_CA"]],
    }


def test_services_listen_on_loopback_only(stack: RunningStack) -> None:
    import psutil

    for status in stack.manager.status():
        assert status.running and status.pid, status
        assert status.startup_seconds is not None and status.startup_seconds > 0
        sockets = psutil.Process(status.pid).net_connections(kind="inet")
        listening = {c.laddr.ip for c in sockets if c.status == psutil.CONN_LISTEN}
        assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1"}, (status.name, listening)


def test_up_again_keeps_the_running_services(stack: RunningStack) -> None:
    before = {s.name: (s.pid, s.endpoint) for s in stack.manager.status()}
    after = {s.name: (s.pid, s.endpoint) for s in stack.manager.up()}
    assert after == before


# ---------------------------------------------------------------------------------------------------------------
# Authentication: HTTPS and a password, as on AKKO's production Trino


def test_right_password_over_https_with_the_stacks_certificate(stack: RunningStack) -> None:
    import ssl
    import urllib.request

    conn = trino_connect(stack)
    try:
        assert query(conn, "SELECT current_user") == [("akko",)]
    finally:
        conn.close()
    # The certificate is checked, host name (127.0.0.1) included, against AKKO_TRINO_CA alone ...
    context = ssl.create_default_context(cafile=stack.env["AKKO_TRINO_CA"])
    with urllib.request.urlopen(
        f"{stack.env['AKKO_TRINO_URL']}/v1/info", context=context, timeout=30
    ) as response:
        assert json.load(response)["starting"] is False
    # ... and a client that does not trust it does not connect.
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(
            f"{stack.env['AKKO_TRINO_URL']}/v1/info", context=ssl.create_default_context(), timeout=30
        )


@pytest.mark.parametrize("who", ["wrong password", "unknown user"])
def test_wrong_credential_is_an_authentication_error(stack: RunningStack, who: str) -> None:
    import trino

    right = stack.env["AKKO_TRINO_PASSWORD"]
    wrong = "not-" + right[:8] + "-wrong"
    user, password = ("akko", wrong) if who == "wrong password" else ("mallory", right)
    conn = trino_connect(stack, user=user, password=password)
    try:
        with pytest.raises(trino.exceptions.HttpError) as caught:
            query(conn, "SELECT 1")
    finally:
        conn.close()
    text = f"{caught.value}\n{caught.value!r}\n{caught.getrepr()}"
    assert "error 401" in str(caught.value) and "Invalid credentials" in str(caught.value)
    assert right not in text and wrong not in text
    log = (stack.state_dir / "stack" / "trino" / "server.log").read_text(errors="replace")
    assert right not in log and wrong not in log


def test_no_credential_and_plain_http_are_refused(stack: RunningStack) -> None:
    import urllib.error
    import urllib.request

    import trino

    from akko_orchestrator.stack.trino import https_session

    env = stack.env
    # HTTPS without a password: 401, and Trino asks for basic authentication.
    session = https_session(Path(env["AKKO_TRINO_CA"]))
    response = session.post(
        f"{env['AKKO_TRINO_URL']}/v1/statement", data="SELECT 1", headers={"X-Trino-User": "akko"}
    )
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")

    # The plain-HTTP port (internal communication only) refuses clients, with or without a password.
    http_port = trino_service(stack).internal_http_port()
    assert http_port and http_port != int(env["AKKO_TRINO_PORT"])
    statement = f"http://127.0.0.1:{http_port}/v1/statement"
    for headers in ({"X-Trino-User": "akko"}, {"X-Trino-User": "akko", "Authorization": "Basic YWtrbzp4"}):
        request = urllib.request.Request(statement, data=b"SELECT 1", headers=headers, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403
        assert "Authentication over HTTP is not enabled" in refused.value.read().decode()

    # The Python client will not send a password over HTTP; told to anyway, the server refuses it.
    auth = trino.auth.BasicAuthentication("akko", env["AKKO_TRINO_PASSWORD"])
    with pytest.raises(trino.exceptions.TrinoAuthError):
        trino.dbapi.connect(host="127.0.0.1", port=http_port, user="akko", http_scheme="http", auth=auth)
    conn = trino.dbapi.connect(
        host="127.0.0.1", port=http_port, user="akko", http_scheme="http", auth=auth, allow_insecure_auth=True
    )
    try:
        with pytest.raises(trino.exceptions.HttpError, match="403"):
            query(conn, "SELECT 1")
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------------------
# One catalog schema for pyiceberg, Trino and Spark


def test_catalog_tables_match_pyiceberg_and_iceberg_java(stack: RunningStack) -> None:
    """Same columns (name, VARCHAR length) and primary keys in PostgreSQL, in pyiceberg's models and in the DDL of
    the iceberg-core that Trino bundles (Spark's JdbcCatalog is the same iceberg-core class, JdbcUtil)."""
    in_postgres = _postgres_catalog_schema(stack)
    assert in_postgres == _pyiceberg_catalog_schema()
    assert in_postgres == _iceberg_java_catalog_schema(stack)
    assert "iceberg_type" in in_postgres["iceberg_tables"][0]  # schema V1: views and tables told apart


Schema = dict[str, tuple[dict[str, int], tuple[str, ...]]]  # table -> ({column: varchar length}, primary key)


def _postgres_catalog_schema(stack: RunningStack) -> Schema:
    columns = _pg_query(
        stack,
        """SELECT c.table_name, c.column_name, c.character_maximum_length FROM information_schema.columns c
           WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position""",
        database="catalog",
    )
    keys = _pg_query(
        stack,
        """SELECT k.table_name, k.column_name FROM information_schema.key_column_usage k
           WHERE k.table_schema = 'public' ORDER BY k.table_name, k.ordinal_position""",
        database="catalog",
    )
    schema: Schema = {}
    for table, column, length in columns:
        schema.setdefault(table, ({}, ()))[0][column] = length
    for table, column in keys:
        schema[table] = (schema[table][0], (*schema[table][1], column))
    return schema


def _pyiceberg_catalog_schema() -> Schema:
    from pyiceberg.catalog.sql import IcebergNamespaceProperties, IcebergTables

    schema: Schema = {}
    for model in (IcebergTables, IcebergNamespaceProperties):
        table = model.__table__
        columns = {c.name: c.type.length for c in table.columns}
        schema[table.name] = (columns, tuple(c.name for c in table.primary_key.columns))
    return schema


def _iceberg_java_catalog_schema(stack: RunningStack) -> Schema:
    """Parse the CREATE/ALTER TABLE strings out of JdbcUtil.class in Trino's iceberg plugin."""
    trino_service = stack.manager.services[1]
    jars = sorted(
        (trino_service.install_dir / "plugin" / "iceberg").glob("org.apache.iceberg_iceberg-core-*.jar")
    )
    assert jars, "Trino's iceberg plugin has no iceberg-core jar"
    text = zipfile.ZipFile(jars[-1]).read("org/apache/iceberg/jdbc/JdbcUtil.class").decode("latin-1")
    schema: Schema = {}
    for table, body in re.findall(r"CREATE TABLE (iceberg_\w+)\(([ -~]*)\)", text):
        columns = {name: int(length) for name, length in re.findall(r"(\w+) VARCHAR\((\d+)\)", body)}
        primary_key = re.search(r"PRIMARY KEY \(([^)]*)\)", body)
        assert primary_key, body
        schema[table] = (columns, tuple(c.strip() for c in primary_key.group(1).split(",")))
    for table, column, length in re.findall(
        r"ALTER TABLE (iceberg_\w+) ADD COLUMN (\w+) VARCHAR\((\d+)\)", text
    ):
        schema[table][0][column] = int(length)
    return schema


# ---------------------------------------------------------------------------------------------------------------
# pyiceberg writes, Trino reads


def _events(first_id: int, count: int) -> pa.Table:
    ids = list(range(first_id, first_id + count))
    base = dt.datetime(2024, 1, 1, 0, 0, 0)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "quantity": pa.array([None if i % 17 == 0 else i % 300 - 100 for i in ids], pa.int32()),
            "region": pa.array([("eu", "us", "apac")[i % 3] for i in ids], pa.string()),
            "amount": pa.array(
                [None if i % 13 == 0 else decimal.Decimal(i * 7919 % 100003) / 100 for i in ids],
                pa.decimal128(12, 2),
            ),
            "ratio": pa.array([i / 7 for i in ids], pa.float64()),
            "refunded": pa.array([None if i % 11 == 0 else i % 5 == 0 for i in ids], pa.bool_()),
            "booked_on": pa.array(
                [dt.date(2024, 1, 1) + dt.timedelta(days=i % 40) for i in ids], pa.date32()
            ),
            "created_at": pa.array(
                [base + dt.timedelta(minutes=37 * i, microseconds=i) for i in ids], pa.timestamp("us")
            ),
            "settled_at": pa.array(
                [base.replace(tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in ids],
                pa.timestamp("us", tz="UTC"),
            ),
            "note": pa.array(
                [None if i % 9 == 0 else f"café {i} – reçu №{i % 13}" for i in ids], pa.string()
            ),
        }
    )


def test_pyiceberg_writes_trino_reads(catalog: Any, trino: Any) -> None:
    from pyiceberg.transforms import DayTransform

    name = f"{NAMESPACE}.py_events"
    if catalog.table_exists(name):
        catalog.drop_table(name)
    first = _events(1, 150)
    table = catalog.create_table(name, schema=first.schema)
    with table.update_spec() as spec:
        spec.add_identity("region")
        spec.add_field("created_at", DayTransform(), "created_day")
    table = catalog.load_table(name)
    table.append(first)
    table.append(_events(151, 50))  # a second snapshot
    table = catalog.load_table(name)

    assert query(trino, "SELECT * FROM py_events ORDER BY id") == iceberg_rows(catalog, "py_events")
    assert query(trino, "SELECT count(*) FROM py_events") == [(200,)]
    partitions = {(r["region"], r["created_at"].date()) for r in table.scan().to_arrow().to_pylist()}
    assert query(trino, 'SELECT count(*) FROM "py_events$partitions"') == [(len(partitions),)]
    snapshots = query(trino, 'SELECT snapshot_id FROM "py_events$snapshots" ORDER BY committed_at')
    assert [s[0] for s in snapshots] == [s.snapshot_id for s in table.snapshots()]
    # Partition pruning works on pyiceberg's partitioning: one region, one day.
    assert query(
        trino,
        "SELECT id FROM py_events WHERE region = 'eu' AND created_at < TIMESTAMP '2024-01-02' ORDER BY id",
    ) == [
        (r[0],) for r in iceberg_rows(catalog, "py_events") if r[2] == "eu" and r[7] < dt.datetime(2024, 1, 2)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Trino writes, pyiceberg reads


ORDERS_CTAS = """
CREATE TABLE orders WITH (partitioning = ARRAY['region', 'month(ordered_at)']) AS
SELECT n AS id,
       CAST(element_at(ARRAY['eu', 'us', 'apac'], n % 3 + 1) AS VARCHAR) AS region,
       CAST(n * 1.25 AS DECIMAL(12, 2)) AS amount,
       CAST(date_add('hour', n * 7, TIMESTAMP '2024-01-01 00:00:00') AS TIMESTAMP(6)) AS ordered_at,
       IF(n % 4 = 0, NULL, 'order ' || CAST(n AS VARCHAR)) AS note
FROM UNNEST(sequence(1, 100)) AS t(n)
"""
ORDERS_INSERT = """
INSERT INTO orders
SELECT n, 'eu', CAST(n AS DECIMAL(12, 2)), CAST(TIMESTAMP '2024-06-01 12:00:00' AS TIMESTAMP(6)), 'late ' || CAST(n AS VARCHAR)
FROM UNNEST(sequence(101, 120)) AS t(n)
"""
ORDERS_MERGE = """
MERGE INTO orders AS o
USING (VALUES (5, 'update', DECIMAL '999.99'), (6, 'delete', NULL), (110, 'update', DECIMAL '0.01'),
              (500, 'insert', DECIMAL '5.00')) AS s(id, op, amount)
ON o.id = s.id
WHEN MATCHED AND s.op = 'delete' THEN DELETE
WHEN MATCHED THEN UPDATE SET amount = s.amount, note = 'merged'
WHEN NOT MATCHED THEN INSERT (id, region, amount, ordered_at, note)
    VALUES (s.id, 'us', s.amount, TIMESTAMP '2024-12-31 23:59:59.999999', 'merged')
"""


def test_trino_writes_pyiceberg_reads(catalog: Any, trino: Any) -> None:
    query(trino, "DROP TABLE IF EXISTS orders")
    assert query(trino, ORDERS_CTAS) == [(100,)]
    assert query(trino, ORDERS_INSERT) == [(20,)]
    assert query(trino, ORDERS_MERGE) == [(4,)]

    in_trino = query(trino, "SELECT * FROM orders ORDER BY id")
    assert in_trino == iceberg_rows(catalog, "orders")
    assert len(in_trino) == 120 - 1 + 1
    by_id = {row[0]: row for row in in_trino}
    assert by_id[5][2] == decimal.Decimal("999.99") and by_id[5][4] == "merged" and 6 not in by_id
    assert by_id[500][3] == dt.datetime(2024, 12, 31, 23, 59, 59, 999999)
    table = catalog.load_table(f"{NAMESPACE}.orders")
    assert [f.name for f in table.spec().fields] == ["region", "ordered_at_month"]
    snapshots = query(trino, 'SELECT snapshot_id FROM "orders$snapshots" ORDER BY committed_at')
    assert [s[0] for s in snapshots] == [s.snapshot_id for s in table.snapshots()]

    # And back: pyiceberg appends to Trino's table, Trino sees it.
    row = {
        "id": 900,
        "region": "eu",
        "amount": decimal.Decimal("9.00"),
        "ordered_at": dt.datetime(2024, 2, 2),
        "note": None,
    }
    table.append(pa.Table.from_pylist([row], schema=table.schema().as_arrow()))
    assert query(trino, "SELECT id, amount FROM orders WHERE id = 900") == [(900, decimal.Decimal("9.00"))]


# ---------------------------------------------------------------------------------------------------------------
# Write-audit-publish: pyiceberg writes a snapshot to a branch, TrinoEngine reads it pinned


CLUSTER_PROJECT_YAML = """\
project: wap
lakehouse: akko
profile: cluster
profiles:
  cluster:
    engine: cluster
    catalog:
      type: sql
      uri: ${AKKO_CATALOG_URI}
      warehouse: ${AKKO_WAREHOUSE}
      password: {env: AKKO_CATALOG_PASSWORD}
    object_store: {uri: objects}
    trino: {conn_id: akko_trino, catalog: iceberg}
    spark: {remote: "sc://127.0.0.1:15002"}
"""


def test_trino_engine_reads_a_pinned_branch_snapshot(
    stack: RunningStack, catalog: Any, tmp_path: Path
) -> None:
    """ids 1-3 on main; the branch `audit`, made from main, gets ids 4-5; then main gets a column and id 9, so the
    audit snapshot is no ancestor of main's head and has an older schema. Queries naming the table as usual read
    the audit snapshot when pinned (aliases, the `iceberg.` prefix, a join with an unpinned table), main otherwise;
    DuckDB answers the same."""
    from pyiceberg.types import StringType

    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.engines.duckdb.engine import DuckDBEngine
    from akko_orchestrator.engines.trino_engine import TrinoEngine

    sales, regions = f"{NAMESPACE}.wap_sales", f"{NAMESPACE}.wap_regions"
    for name in (sales, regions):
        if catalog.table_exists(name):
            catalog.drop_table(name)

    def rows(ids: list[int], region: list[str], **more: list[Any]) -> pa.Table:
        columns = {"id": pa.array(ids, pa.int64()), "region": pa.array(region, pa.string())}
        return pa.table({**columns, **{k: pa.array(v, pa.string()) for k, v in more.items()}})

    table = catalog.create_table(sales, schema=rows([], []).schema)
    table.append(rows([1, 2, 3], ["eu", "us", "eu"]))
    table.manage_snapshots().create_branch(table.current_snapshot().snapshot_id, "audit").commit()
    transaction = table.transaction()
    transaction.append(rows([4, 5], ["eu", "us"]), branch="audit")
    transaction.commit_transaction()
    audit = catalog.load_table(sales).metadata.refs["audit"].snapshot_id
    with catalog.load_table(sales).update_schema() as update:
        update.add_column("note", StringType())
    catalog.load_table(sales).append(rows([9], ["us"], note=["late"]))
    catalog.create_table(regions, schema=rows([], []).schema.append(pa.field("name", pa.string()))).append(
        rows([1, 2], ["eu", "us"], name=["Europe", "USA"])
    )
    main = catalog.load_table(sales).current_snapshot().snapshot_id

    (tmp_path / "akko.yaml").write_text(CLUSTER_PROJECT_YAML)
    tables = [regions, sales]
    queries = {
        "ids": f"SELECT id FROM {sales} ORDER BY id",
        "alias": f"SELECT max(s.id) AS top, count(*) AS n FROM iceberg.{sales} s WHERE s.id > 0",
        "join": f"SELECT r.name, count(*) AS n FROM {sales} AS s JOIN iceberg.{regions} r ON r.region = s.region "
        "GROUP BY r.name ORDER BY r.name",
        "star": f"SELECT * FROM {sales} ORDER BY id",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack.env.items():
            patch.setenv(key, value)
        trino = TrinoEngine(load_project(tmp_path, profile="cluster"), catalog)
        duck = DuckDBEngine(catalog)
        try:
            answers = {}
            for engine_name, engine in (("trino", trino), ("duckdb", duck)):
                for versions in (None, {sales.upper(): audit}):
                    for label, sql in queries.items():
                        result = engine.query(sql, tables, versions=versions)
                        answers[engine_name, versions is not None, label] = (
                            result.column_names,
                            result.to_pylist(),
                        )
        finally:
            trino.close()
            duck.close()

    def answer(pinned: bool, label: str) -> tuple[list[str], list[dict[str, Any]]]:
        assert answers["trino", pinned, label] == answers["duckdb", pinned, label], label
        return answers["trino", pinned, label]

    assert answer(True, "ids")[1] == [{"id": i} for i in (1, 2, 3, 4, 5)]
    assert answer(False, "ids")[1] == [{"id": i} for i in (1, 2, 3, 9)]
    assert answer(True, "alias")[1] == [{"top": 5, "n": 5}]
    assert answer(False, "alias")[1] == [{"top": 9, "n": 4}]
    assert answer(True, "join")[1] == [{"name": "Europe", "n": 3}, {"name": "USA", "n": 2}]
    assert answer(False, "join")[1] == [{"name": "Europe", "n": 2}, {"name": "USA", "n": 2}]
    assert answer(True, "star")[0] == ["id", "region"]  # the snapshot's schema: `note` came later
    assert answer(False, "star")[0] == ["id", "region", "note"]
    assert catalog.load_table(sales).current_snapshot().snapshot_id == main  # reading moved nothing


# ---------------------------------------------------------------------------------------------------------------
# Trino's `postgresql` catalog on the operational database


def _pg_query(stack: RunningStack, sql: str, database: str = "operational") -> list[tuple[Any, ...]]:
    """Run SQL as the catalog or the operational role, with the credentials of the env file."""
    import psycopg2
    from sqlalchemy.engine import make_url

    env = stack.env
    if database == "catalog":
        url = make_url(env["AKKO_CATALOG_URI"])
        user, password, dbname = env["AKKO_CATALOG_USER"], env["AKKO_CATALOG_PASSWORD"], url.database
    else:
        user, password, dbname = env["AKKO_OPERATIONAL_USER"], env["AKKO_OPERATIONAL_PASSWORD"], "akko"
    conn = psycopg2.connect(
        host=env["AKKO_PG_HOST"], port=env["AKKO_PG_PORT"], user=user, password=password, dbname=dbname
    )
    try:
        with conn, conn.cursor() as cursor:  # commits on success
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def test_trino_reads_the_operational_database(stack: RunningStack, catalog: Any, trino: Any) -> None:
    _pg_query(
        stack,
        """DROP TABLE IF EXISTS banking.accounts;
           CREATE TABLE banking.accounts (id integer PRIMARY KEY, owner text NOT NULL, balance numeric(12, 2),
                                          opened_at timestamp NOT NULL, active boolean);
           INSERT INTO banking.accounts
           SELECT g, 'owner ' || g || CASE WHEN g % 3 = 0 THEN ' é' ELSE '' END,
                  CASE WHEN g % 7 = 0 THEN NULL ELSE g * 10.5 END,
                  timestamp '2024-01-01 00:00:00' + g * interval '1 day 3 hours', g % 2 = 0
           FROM generate_series(1, 50) AS g""",
    )
    in_postgres = _pg_query(stack, "SELECT * FROM banking.accounts ORDER BY id")
    schemas = {row[0] for row in query(trino, "SHOW SCHEMAS FROM postgresql")}
    assert {"akko", "banking"} <= schemas
    assert query(trino, "SELECT * FROM postgresql.banking.accounts ORDER BY id") == in_postgres

    # The ingest path of the cluster profile: operational rows copied into the lakehouse by Trino.
    query(trino, "DROP TABLE IF EXISTS accounts")
    assert query(trino, "CREATE TABLE accounts AS SELECT * FROM postgresql.banking.accounts") == [(50,)]
    assert iceberg_rows(catalog, "accounts") == in_postgres


# ---------------------------------------------------------------------------------------------------------------
# The env file's Airflow connections, through the providers' hooks (Airflow in a child process: it reads its
# configuration at import, and the pytest process stays free of it).

AIRFLOW_CHECK = """
import json
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.trino.hooks.trino import TrinoHook
hook = TrinoHook(trino_conn_id="akko_trino")
conn = hook.get_conn()
cursor = conn.cursor()
cursor.execute("SELECT current_user")
connected = {"scheme": conn.http_scheme, "user": cursor.fetchall()}
conn.close()
trino = hook.get_records("SELECT current_user, current_catalog")
postgres = PostgresHook(postgres_conn_id="akko_operational").get_records("SELECT current_user, current_database()")
print("RESULT" + json.dumps({"get_conn": connected, "trino": trino, "postgres": postgres}))
"""


def _airflow_check(
    stack: RunningStack, home: Path, ca_bundle: str | None = None
) -> subprocess.CompletedProcess[str]:
    """AIRFLOW_CHECK in a child process with the env file's variables; the CA-bundle variables of requests are
    removed (they would override the connection's `verify`, psf/requests#3829) unless `ca_bundle` sets them."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k not in CA_BUNDLE_VARIABLES
    }
    env.update(stack.env, AIRFLOW_HOME=str(home))
    if ca_bundle:
        env.update(dict.fromkeys(CA_BUNDLE_VARIABLES, ca_bundle))
    return subprocess.run(
        [sys.executable, "-c", AIRFLOW_CHECK], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT
    )


def test_airflow_connections_reach_the_services(stack: RunningStack, tmp_path: Path) -> None:
    done = _airflow_check(stack, tmp_path / "airflow")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    assert result == {
        "get_conn": {"scheme": "https", "user": [["akko"]]},
        "trino": [["akko", "iceberg"]],
        "postgres": [["akko", "akko"]],
    }
    assert stack.env["AKKO_TRINO_PASSWORD"] not in done.stdout + done.stderr


@pytest.mark.xfail(
    strict=True,
    reason="requests ignores Session.verify (TrinoHook's `verify` extra) when REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE "
    "is set (psf/requests#3829): the hook then checks the stack's certificate against that bundle",
)
def test_airflow_trino_connection_with_a_requests_ca_bundle_set(stack: RunningStack, tmp_path: Path) -> None:
    import certifi

    done = _airflow_check(stack, tmp_path / "airflow", ca_bundle=certifi.where())
    assert done.returncode == 0, done.stderr[-3000:]


# ---------------------------------------------------------------------------------------------------------------
# The CLI from another process; last: it stops the stack.


def _stack_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-c",
        "from akko_orchestrator.cli.stack_cmd import stack_app; stack_app()",
        *args,
    ]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)


def test_cli_status_down_status(stack: RunningStack) -> None:
    secrets = [
        stack.env["AKKO_CATALOG_PASSWORD"],
        stack.env["AKKO_OPERATIONAL_PASSWORD"],
        stack.env["AKKO_TRINO_PASSWORD"],
    ]
    running = _stack_cli("status")
    assert running.returncode == 0, running.stderr
    assert running.stdout.count("running") == 3, running.stdout  # postgres, trino, spark
    assert stack.env["AKKO_TRINO_URL"] in running.stdout  # https://127.0.0.1:<port>
    pids = stack_processes(stack)
    assert pids

    stopped = _stack_cli("down")
    assert stopped.returncode == 0, stopped.stderr
    after = _stack_cli("status")
    assert after.returncode == 0, after.stderr
    assert after.stdout.count("│ stopped │") == 3 and "│ running │" not in after.stdout, after.stdout
    assert not stack.manager.paths.env_file.exists()
    assert not any(
        secret in out for secret in secrets for out in (running.stdout, stopped.stdout, after.stdout)
    )
    import psutil

    left = [
        pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert not left, f"processes left after `akko stack down`: {left}"
