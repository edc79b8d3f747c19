"""`akko stack`'s Spark Connect service on the shared Iceberg JDBC catalog (PostgreSQL), against pyiceberg.

One PostgreSQL and one Spark Connect server (tests/fixtures/stack_spark.py) and a fresh warehouse per run of the
module; the module runs three times: catalog tables created by `stack/postgres_databases.py`'s DDL (as
`akko stack up` does), by pyiceberg's SqlCatalog, then by Spark's JdbcCatalog on an empty database. Each test
writes with one engine and reads with the other, comparing whole rows, in the order a pipeline would mix them:
Spark writes a partitioned table from CSV; pyiceberg creates and appends, Spark reads (also right after another
pyiceberg commit: no stale cache); Spark MERGE INTO a pyiceberg table; Spark copies a PostgreSQL table into
Iceberg over JDBC; both engines' rows in `iceberg_tables` are alike; a Python UDF runs (Python workers). The last
test stops the server and checks that no process is left, Python workers included.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import http.server
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from akko_orchestrator.lakehouse.spark_session import stop_session
from akko_orchestrator.stack.maven import MavenArtifact, fetch_maven
from akko_orchestrator.stack.process import StackError
from akko_orchestrator.stack.spark import SparkConnectService, process_tree

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `tests.fixtures` importable without a root conftest or pytest `pythonpath`
    sys.path.insert(0, str(_ROOT))

from tests.fixtures.stack_spark import SparkStack, leftover_processes, running_spark_stack  # noqa: E402

# The server's start (download on a cold cache, JVM on a machine shared with Trino) counts against the first test.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

NS = "spark_it"
UTC = dt.UTC

SALES_CSV = """id,customer,region,amount,sold_on
1,Ana,EU,10.50,2024-01-03
2,Björn,EU,99.99,2024-01-04
3,Chen,APAC,5.00,2024-02-01
4,Dalia,MENA,1200.00,2024-02-11
5,Émile,EU,0.01,2024-03-30
6,Farid,MENA,42.42,2024-03-31
7,Gus,AMER,7.25,2024-04-01
"""
SALES_SCHEMA = "id INT, customer STRING, region STRING, amount DECIMAL(10,2), sold_on DATE"


@pytest.fixture(scope="module", params=["stack", "pyiceberg", "spark"], ids=lambda who: f"catalog-by-{who}")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkStack]:
    base = tmp_path_factory.mktemp(f"stack-spark-{request.param}")
    with running_spark_stack(base, created_by=request.param) as running:
        yield running
    print(f"\nSpark stack timings (catalog created by {request.param}): {running.timings}")
    assert not leftover_processes(running.service)


@pytest.fixture(scope="module")
def spark(stack: SparkStack) -> Iterator[Any]:
    session = stack.session()
    try:
        yield session
    finally:
        stop_session(session)


def _rows(table: pa.Table, key: str = "id") -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda row: row[key])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


def test_download_is_checked_against_its_sha1(tmp_path: Path) -> None:
    """A jar whose `.sha1` does not match is refused and leaves nothing in the cache; a good one is kept."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    artifact = MavenArtifact("org.example", "demo", "1.0")
    jar = repo / artifact.relative_path
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"not really a jar")
    Path(f"{jar}.sha1").write_text("0" * 40)
    handler = functools.partial(_QuietHandler, directory=str(repo))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(StackError, match="checksum mismatch"):
            fetch_maven(artifact, cache, base_url=base_url, attempts=1)
        assert not [path for path in cache.rglob("*") if path.is_file()]
        Path(f"{jar}.sha1").write_text(hashlib.sha1(jar.read_bytes()).hexdigest() + "  demo-1.0.jar\n")
        assert fetch_maven(artifact, cache, base_url=base_url).read_bytes() == jar.read_bytes()
        server.shutdown()


def test_server_runs_and_answers(stack: SparkStack, spark: Any) -> None:
    status = stack.service.status()
    assert status.running and status.endpoint == stack.remote
    assert stack.remote.startswith("sc://127.0.0.1:")
    assert status.startup_seconds is not None
    # Another process (a second `akko stack up`) finds the running server instead of starting one.
    again = SparkConnectService(stack.service.paths, lambda: stack.catalog)  # a provider, resolved at start
    assert again.start().variables["AKKO_SPARK_REMOTE"] == stack.remote
    assert again.status().pid == status.pid
    started = time.monotonic()
    assert spark.range(100_000).selectExpr("sum(id) AS total").collect()[0]["total"] == 4_999_950_000
    stack.timings["startup_seconds"] = status.startup_seconds
    stack.timings["first_job_seconds"] = round(time.monotonic() - started, 1)
    assert spark.conf.get("spark.sql.defaultCatalog") == "iceberg"
    # The password went through a file that is gone once the server runs; it is in no log.
    assert not stack.service.properties_file.exists()
    assert stack.postgres.password not in stack.service.log_file.read_text()


def test_spark_writes_partitioned_csv_pyiceberg_reads(stack: SparkStack, spark: Any, tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    source.write_text(SALES_CSV, encoding="utf-8")
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS iceberg.{NS}")
    frame = spark.read.option("header", "true").schema(SALES_SCHEMA).csv(str(source))
    started = time.monotonic()
    frame.writeTo(f"iceberg.{NS}.sales").partitionedBy("region").create()
    stack.timings["csv_to_iceberg_seconds"] = round(time.monotonic() - started, 1)

    table = stack.pyiceberg().load_table(f"{NS}.sales")
    assert _rows(table.scan().to_arrow()) == _expected_sales()
    (spec_field,) = table.spec().fields
    assert spec_field.name == "region" and str(spec_field.transform) == "identity"
    assert spec_field.source_id == table.schema().find_field("region").field_id
    # Partition pruning works for pyiceberg too: only the EU files are planned.
    eu_files = list(table.scan(row_filter="region == 'EU'").plan_files())
    assert eu_files and all(task.file.partition[0] == "EU" for task in eu_files)


def _expected_sales() -> list[dict[str, Any]]:
    rows = list(csv.DictReader(SALES_CSV.splitlines()))
    return [
        {
            "id": int(row["id"]),
            "customer": row["customer"],
            "region": row["region"],
            "amount": Decimal(row["amount"]),
            "sold_on": dt.date.fromisoformat(row["sold_on"]),
        }
        for row in rows
    ]


EVENTS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
        pa.field("score", pa.float64()),
    ]
)


def _events(ids: range, kind: str) -> pa.Table:
    base = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    rows = [
        {
            "id": i,
            "kind": f"{kind}-ü{i}",
            "at": base + dt.timedelta(minutes=i),
            "score": None if i % 3 else i / 4,
        }
        for i in ids
    ]
    return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)


def test_pyiceberg_writes_spark_reads(stack: SparkStack, spark: Any) -> None:
    catalog = stack.pyiceberg()
    catalog.create_namespace_if_not_exists(NS)
    table = catalog.create_table(f"{NS}.events", schema=EVENTS_SCHEMA)
    first = _events(range(1, 6), "open")
    table.append(first)
    assert _rows(spark.table(f"iceberg.{NS}.events").toArrow()) == _rows(first)

    # A second pyiceberg commit is visible at once: Spark's catalog cache is off for this shared catalog.
    second = _events(range(6, 9), "click")
    table.append(second)
    assert _rows(spark.table(f"{NS}.events").toArrow()) == _rows(pa.concat_tables([first, second]))


def test_spark_merge_into_pyiceberg_table(stack: SparkStack, spark: Any) -> None:
    changes = _events(range(7, 11), "merged")  # 7 and 8 exist (updated), 9 and 10 are new (inserted)
    spark.createDataFrame(changes.to_pandas()).createOrReplaceTempView("changes")
    spark.sql(
        f"""
        MERGE INTO iceberg.{NS}.events AS t
        USING changes AS s ON t.id = s.id
        WHEN MATCHED THEN UPDATE SET t.kind = s.kind, t.score = s.score
        WHEN NOT MATCHED THEN INSERT *
        """
    )
    table = stack.pyiceberg().load_table(f"{NS}.events")
    assert table.current_snapshot() is not None
    assert table.current_snapshot().summary.operation.value == "overwrite"
    expected = {row["id"]: row for row in _events(range(1, 6), "open").to_pylist()}
    expected.update({row["id"]: row for row in _events(range(6, 9), "click").to_pylist()})
    for row in changes.to_pylist():  # matched rows keep their `at`, take the new kind and score
        expected[row["id"]] = {**expected.get(row["id"], row), "kind": row["kind"], "score": row["score"]}
    assert _rows(table.scan().to_arrow()) == sorted(expected.values(), key=lambda row: row["id"])


CUSTOMERS_DDL = """
CREATE SCHEMA IF NOT EXISTS src;
DROP TABLE IF EXISTS src.customers;
CREATE TABLE src.customers (
    id          integer PRIMARY KEY,
    account     bigint NOT NULL,
    name        text,
    balance     numeric(12, 2),
    ratio       double precision,
    active      boolean,
    born        date,
    created_at  timestamp NOT NULL,
    seen_at     timestamptz
);
INSERT INTO src.customers
SELECT g,
       9000000000 + g,
       CASE WHEN g % 10 = 0 THEN NULL WHEN g % 3 = 0 THEN 'José ' || g || ' – №' ELSE 'customer ' || g END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE round(((g * 7919) % 100003) / 100.0 - 300, 2) END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g / 8.0 END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE g % 2 = 0 END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE date '1970-01-01' + g * 17 END,
       timestamp '2024-01-01 00:00:00' + g * interval '61 minutes 7.125 seconds',
       CASE WHEN g % 4 = 0 THEN NULL ELSE timestamptz '2024-06-01 00:00:00+02' + g * interval '1 hour' END
FROM generate_series(1, 500) AS g;
"""


def test_spark_copies_postgres_table_over_jdbc(stack: SparkStack, spark: Any) -> None:
    pg = stack.postgres
    with pg.connect() as conn:
        conn.execute(CUSTOMERS_DDL)
    source = (
        spark.read.format("jdbc")
        .option("url", stack.catalog.jdbc_url)
        .option("driver", "org.postgresql.Driver")
        .option("dbtable", "src.customers")
        .option("user", pg.user)
        .option("password", pg.password)
        .option("preferTimestampNTZ", "true")  # `timestamp` stays without zone (Iceberg `timestamp`)
        .load()
    )
    source.writeTo(f"iceberg.{NS}.customers").create()

    table = stack.pyiceberg().load_table(f"{NS}.customers")
    assert str(table.schema().find_field("created_at").field_type) == "timestamp"
    assert str(table.schema().find_field("seen_at").field_type) == "timestamptz"
    columns = [field.name for field in table.schema().fields]
    expected = [dict(zip(columns, row, strict=True)) for row in pg.query("SELECT * FROM src.customers")]
    for row in expected:  # psycopg returns timestamptz in the session zone; Iceberg returns UTC
        row["seen_at"] = row["seen_at"].astimezone(UTC) if row["seen_at"] else None
    assert _rows(table.scan().to_arrow()) == sorted(expected, key=lambda row: row["id"])


def test_both_engines_write_the_same_catalog_rows(stack: SparkStack) -> None:
    """Spark's JdbcCatalog (schema V1) and pyiceberg's SqlCatalog share the rows: same name, type 'TABLE'."""
    rows = stack.postgres.query(
        "SELECT catalog_name, table_namespace, table_name, iceberg_type, metadata_location FROM iceberg_tables"
    )
    assert {(row[1], row[2]) for row in rows} == {(NS, "sales"), (NS, "events"), (NS, "customers")}
    assert {(row[0], row[3]) for row in rows} == {("iceberg", "TABLE")}
    warehouse = stack.catalog.warehouse.removeprefix("file://")
    assert all(row[4].removeprefix("file:").lstrip("/").startswith(warehouse.lstrip("/")) for row in rows)
    assert stack.pyiceberg().list_tables(NS) == sorted([(NS, "customers"), (NS, "events"), (NS, "sales")])


def test_python_udf_runs_in_python_workers(spark: Any) -> None:
    from pyspark.sql.functions import udf

    plus_one = udf(lambda value: value + 1, "long")
    assert [row.x for row in spark.range(4).select(plus_one("id").alias("x")).collect()] == [1, 2, 3, 4]


def test_a_dropped_session_leaves_the_shared_release_pool_alone(stack: SparkStack, spark: Any) -> None:
    """pyspark's finalizer closes a session's client again, shutting down the release thread pool all sessions
    of the process share (from the garbage collector, inside that pool's submit(), it deadlocks): a session
    ended by `stop_session` leaves its finalizer nothing to do."""
    import gc

    from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator as Reattach

    other = stack.session()
    assert other.range(3).count() == 3
    stop_session(other)
    pool = Reattach._get_or_create_release_thread_pool()  # stop() shut the old one down: this is the new one
    assert spark.range(5).count() == 5
    del other
    gc.collect()
    assert Reattach._release_thread_pool_instance is pool


def test_stop_leaves_no_process(stack: SparkStack, spark: Any) -> None:
    pid = stack.service.status().pid
    assert pid is not None
    tree = process_tree(pid)  # the JVM, and PySpark's worker daemon (its own process group) and workers
    assert len(tree) > 1 and leftover_processes(stack.service)
    stop_session(spark)
    started = time.monotonic()
    stack.service.stop()
    stack.timings["stop_seconds"] = round(time.monotonic() - started, 1)
    assert not leftover_processes(stack.service, tree)
    assert not Path(f"/proc/{pid}").exists()  # gone and reaped, not a zombie
    assert not stack.service.status().running
    stack.service.stop()  # idempotent
