"""SQL (PostgreSQL) and HTTP ingest against real services, run through real Airflow on the embedded lakehouse.

A throwaway PostgreSQL server (tests/fixtures/postgres.py) and a loopback JSON API (tests/fixtures/http_server.py)
are started once for the module. Pipelines run through Airflow with `run_pipeline` (`dag.test()`) in a child
process per run (tests/fixtures/airflow_runner.py): Airflow reads its configuration at import and `run_pipeline`
sets process-wide AIRFLOW_* variables, so a fresh interpreter per run, configured only by the environment given
here (AKKO_PROJECT_DIR, AKKO_STATE_DIR, AIRFLOW_CONN_*), is isolated from whatever else the pytest process did.
All runs share one project and state folder, so Airflow's metadata DB is created once.

Three Airflow runs in all: (1) SQL + HTTP (url and connection) ingest, (2) the same pipeline after rows changed
in PostgreSQL and a column was added to one of its tables (merge, schema evolution, re-ingest into existing
tables), (3) a pipeline whose steps all fail (bad password, bad query, HTTP 500, unreachable, wrong records path);
plus one direct `fetch_sql` call with small batches.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `tests.fixtures` importable without a root conftest or pytest `pythonpath`
    sys.path.insert(0, str(_ROOT))

from tests.fixtures import airflow_runner, http_server, postgres  # noqa: E402
from tests.fixtures.http_server import JsonApiServer  # noqa: E402
from tests.fixtures.postgres import PostgresServer, free_port, seed_raw_transactions  # noqa: E402

# The services' fixtures, made visible to this module (no root conftest needed).
postgres_server = postgres.postgres_server
json_api = http_server.json_api

pytestmark = pytest.mark.integration

PIPELINE = "ingest_sources_it"
FAILING_PIPELINE = "ingest_failures_it"
PG_CONN, PG_BAD_CONN = "akko_it_pg", "akko_it_pg_badpw"
API_CONN, API_DOWN_CONN = "akko_it_api", "akko_it_api_down"
SEED_ROWS = 3000
RUN_TIMEOUT = 420  # seconds for one Airflow run in a child process (the machine is shared and slow)

COLUMNS = [
    "id",
    "account_id",
    "amount",
    "fx_rate",
    "quantity",
    "currency",
    "description",
    "created_at",
    "settled_at",
    "is_refund",
    "booking_date",
    "updated_at",
]
EXPECTED_TYPES = {  # PostgreSQL column -> Iceberg type, from the declared SQL types
    "id": "int",
    "account_id": "long",
    "amount": "decimal(12, 2)",
    "fx_rate": "double",
    "quantity": "int",  # smallint: Iceberg has no 16-bit integer
    "currency": "string",
    "description": "string",
    "created_at": "timestamp",
    "settled_at": "timestamptz",
    "is_refund": "boolean",
    "booking_date": "date",
    "updated_at": "timestamp",
}
EDGE_QUERY = """
SELECT g AS id,
       NULL::integer AS never_set,
       md5(g::text)::uuid AS ref,
       jsonb_build_object('n', g, 'tags', ARRAY['a', 'b']) AS doc,
       round(g / 7.0, 1 + g % 3) AS ratio,
       time '08:00' + g * interval '1 minute' AS at_time
FROM generate_series(1, 5) AS g
"""


def _items(count: int = 120) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "sku": f"SKU-{i:04d}",
            "price": None if i % 10 == 0 else round(i * 1.25, 2),
            "in_stock": i % 3 != 0,
            "status": "active" if i % 4 else "retired",
            "label": "ünïcode ✓" if i % 7 == 0 else None,
            "dimensions": {"width_cm": 10 + i % 5, "height_cm": 2.5 * (i % 4)},
            "tags": [f"t{i % 3}", "all"],
        }
        for i in range(1, count + 1)
    ]


ITEMS = _items()
ACTIVE_ITEMS = [i for i in ITEMS if i["status"] == "active"]


# ---------------------------------------------------------------------------------------------------- project


def _pipeline_spec(api: JsonApiServer) -> str:
    return textwrap.dedent(
        f"""\
        pipeline: {PIPELINE}
        owner: tests
        team: ops
        schedule: manual
        defaults: {{retries: 0}}
        steps:
          - id: load_transactions
            kind: ingest
            source:
              sql:
                conn_id: {PG_CONN}
                query: SELECT {", ".join(COLUMNS)} FROM akko.raw_transactions
            output: {{table: ops.transactions, mode: merge, keys: [id]}}
          - id: load_accounts
            kind: ingest
            source:
              sql: {{conn_id: {PG_CONN}, query: "SELECT * FROM akko.accounts"}}
            output: {{table: ops.accounts, mode: merge, keys: [account_id]}}
          - id: load_edge_types
            kind: ingest
            source:
              sql:
                conn_id: {PG_CONN}
                query: {json.dumps(EDGE_QUERY.strip())}
            output: {{table: ops.edge_types, mode: overwrite}}
          - id: load_items_by_url
            kind: ingest
            source:
              http:
                url: {api.base_url}/api/v1
                endpoint: /items
                params: {{status: active}}
                records: data.items
            output: {{table: ops.items_by_url, mode: overwrite}}
          - id: load_items_by_conn
            kind: ingest
            source:
              http:
                conn_id: {API_CONN}
                endpoint: api/v1/items
                params: {{status: active}}
                records: data.items
            output: {{table: ops.items_by_conn, mode: overwrite}}
        """
    )


def _failing_spec(api: JsonApiServer, closed_port: int) -> str:
    return textwrap.dedent(
        f"""\
        pipeline: {FAILING_PIPELINE}
        owner: tests
        team: ops
        schedule: manual
        defaults: {{retries: 0}}
        steps:
          - id: wrong_password
            kind: ingest
            source:
              sql: {{conn_id: {PG_BAD_CONN}, query: "SELECT {", ".join(COLUMNS)} FROM akko.raw_transactions"}}
            output: {{table: ops.transactions, mode: merge, keys: [id]}}
          - id: missing_relation
            kind: ingest
            source:
              sql: {{conn_id: {PG_CONN}, query: "SELECT * FROM akko.no_such_table"}}
            output: {{table: ops.never_written_sql, mode: overwrite}}
          - id: server_error_by_url
            kind: ingest
            source:
              http: {{url: "{api.base_url}/api/v1/broken", records: data.items}}
            output: {{table: ops.items_by_url, mode: overwrite}}
          - id: server_error_by_conn
            kind: ingest
            source:
              http: {{conn_id: {API_CONN}, endpoint: /api/v1/broken, records: data.items}}
            output: {{table: ops.items_by_conn, mode: overwrite}}
          - id: unreachable_by_url
            kind: ingest
            source:
              http: {{url: "http://127.0.0.1:{closed_port}/api/v1/items", records: data.items}}
            output: {{table: ops.never_written_url, mode: overwrite}}
          - id: unreachable_by_conn
            kind: ingest
            source:
              http: {{conn_id: {API_DOWN_CONN}, endpoint: /api/v1/items, records: data.items}}
            output: {{table: ops.never_written_conn, mode: overwrite}}
          - id: wrong_records_path
            kind: ingest
            source:
              http: {{url: "{api.base_url}/api/v1/items", records: data.rows}}
            output: {{table: ops.never_written_path, mode: overwrite}}
        """
    )


@dataclass
class Run:
    report: dict[str, Any]
    output: str  # the child process's stdout + stderr

    @property
    def state(self) -> str:
        return self.report["state"]

    def task(self, task_id: str) -> dict[str, Any]:
        matches = [t for t in self.report["tasks"] if t["task_id"] == task_id]
        assert matches, f"no task {task_id} in {[t['task_id'] for t in self.report['tasks']]}"
        return matches[0]


@dataclass
class Lakehouse:
    """A tmp project + state folder, the services it reads from, and helpers to run and inspect it."""

    project_dir: Path
    state_dir: Path
    env: dict[str, str]
    pg: PostgresServer
    api: JsonApiServer
    closed_port: int
    runs: int = 0

    def run(self, pipeline_id: str) -> Run:
        self.runs += 1
        report_file = self.state_dir / f"report-{self.runs}-{pipeline_id}.json"
        done = subprocess.run(
            [sys.executable, airflow_runner.__file__, pipeline_id, str(report_file)],
            cwd=self.project_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0 and report_file.is_file(), f"the Airflow run crashed:\n{output[-6000:]}"
        return Run(json.loads(report_file.read_text()), output)

    def catalog(self) -> Any:
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.lakehouse.catalog import open_catalog

        return open_catalog(load_project(self.project_dir))

    def table(self, name: str) -> Any | None:
        catalog = self.catalog()
        return catalog.load_table(name) if catalog.table_exists(name) else None

    def snapshot_ids(self, *names: str) -> dict[str, int | None]:
        ids: dict[str, int | None] = {}
        for name in names:
            table = self.table(name)
            snapshot = table.current_snapshot() if table is not None else None
            ids[name] = snapshot.snapshot_id if snapshot is not None else None
        return ids


def _child_env(project_dir: Path, state_dir: Path, pg: PostgresServer, api: JsonApiServer, closed: int):
    """The pytest environment minus any AKKO_*/AIRFLOW* setting, plus this project's and the connections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKKO", "AIRFLOW"))}
    env.update(
        {
            "AKKO_PROJECT_DIR": str(project_dir),
            "AKKO_STATE_DIR": str(state_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT / "src"), os.environ.get("PYTHONPATH")])),
            f"AIRFLOW_CONN_{PG_CONN.upper()}": pg.uri(),
            f"AIRFLOW_CONN_{PG_BAD_CONN.upper()}": pg.uri(password=pg.password + "-wrong"),
            f"AIRFLOW_CONN_{API_CONN.upper()}": f"http://{api.host}:{api.port}",
            f"AIRFLOW_CONN_{API_DOWN_CONN.upper()}": f"http://127.0.0.1:{closed}",
        }
    )
    for key in ("NO_PROXY", "no_proxy"):  # the local API is never behind a proxy the machine may configure
        env[key] = ",".join(filter(None, [env.get(key), "127.0.0.1", "localhost"]))
    return env


@pytest.fixture(scope="module")
def lake(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer, json_api: JsonApiServer
) -> Any:
    seed_raw_transactions(postgres_server, SEED_ROWS)
    postgres_server.execute(ACCOUNTS_SQL)
    json_api.route(
        "/api/v1/items",
        200,
        {"meta": {"count": len(ITEMS)}, "data": {"items": ITEMS}},
        filter_param="status",
        records_path=("data", "items"),
    )
    json_api.route("/api/v1/broken", 500, {"error": "database on fire"})
    base = tmp_path_factory.mktemp("ingest-sources")
    project_dir, state_dir = base / "project", base / "state"
    (project_dir / "pipelines").mkdir(parents=True)
    (project_dir / "akko.yaml").write_text(
        "project: ingest-it\nlakehouse: akko\nprofile: local\nprofiles:\n  local:\n    engine: embedded\n"
    )
    closed_port = free_port()  # nothing listens there: connection refused
    (project_dir / "pipelines" / f"{PIPELINE}.yaml").write_text(_pipeline_spec(json_api))
    (project_dir / "pipelines" / f"{FAILING_PIPELINE}.yaml").write_text(_failing_spec(json_api, closed_port))
    env = _child_env(project_dir, state_dir, postgres_server, json_api, closed_port)
    with pytest.MonkeyPatch.context() as patch:  # this process reads the same lakehouse (catalog) as the runs
        for key in [k for k in os.environ if k.startswith("AKKO")]:
            patch.delenv(key)
        patch.setenv("AKKO_PROJECT_DIR", str(project_dir))
        patch.setenv("AKKO_STATE_DIR", str(state_dir))
        yield Lakehouse(project_dir, state_dir, env, postgres_server, json_api, closed_port)


# ---------------------------------------------------------------------------------------------------- runs

TABLES = ("ops.transactions", "ops.accounts", "ops.edge_types", "ops.items_by_url", "ops.items_by_conn")
NEVER_WRITTEN = (
    "ops.never_written_sql",
    "ops.never_written_url",
    "ops.never_written_conn",
    "ops.never_written_path",
)


@dataclass
class Captured:
    run: Run
    snapshots: dict[str, int | None]
    tables: dict[str, pa.Table]
    pg_rows: list[tuple[Any, ...]]
    pg_aggregates: dict[str, Any]


def _capture(lake: Lakehouse, run: Run) -> Captured:
    snapshots = lake.snapshot_ids(*TABLES)
    tables = {name: lake.table(name).scan().to_arrow() for name in TABLES if snapshots[name] is not None}
    pg_rows = lake.pg.query(f"SELECT {', '.join(COLUMNS)} FROM akko.raw_transactions ORDER BY id")
    return Captured(run, snapshots, tables, pg_rows, _aggregates_from_postgres(lake.pg))


@pytest.fixture(scope="module")
def first_run(lake: Lakehouse) -> Captured:
    run = lake.run(PIPELINE)
    assert run.state == "success", _failure_summary(run)
    return _capture(lake, run)


ACCOUNTS_SQL = """
CREATE TABLE akko.accounts (account_id bigint PRIMARY KEY, holder text NOT NULL, opened date);
INSERT INTO akko.accounts
SELECT 1000000000000 + g, 'holder ' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE date '2020-01-01' + g END
FROM generate_series(0, 96) AS g
"""
ACCOUNT_COLUMNS = ["account_id", "holder", "opened", "credit_limit"]

UPDATE_SQL = [
    # the operational table gains a column (picked up by `SELECT *`), and some rows change
    "ALTER TABLE akko.accounts ADD COLUMN credit_limit numeric(10, 2)",
    "UPDATE akko.accounts SET credit_limit = 500 + (account_id % 10) * 100.5 WHERE account_id % 2 = 0",
    "UPDATE akko.accounts SET holder = upper(holder) WHERE account_id % 3 = 0",
    # changed values, values that become NULL, NULLs that get values, and new rows
    "UPDATE akko.raw_transactions SET amount = amount + 1000.01, description = 'updated ' || id, "
    "is_refund = NOT coalesce(is_refund, false), updated_at = timestamp '2025-06-01 12:00:00' "
    "WHERE id BETWEEN 1 AND 150",
    "UPDATE akko.raw_transactions SET settled_at = NULL, fx_rate = NULL, updated_at = timestamp '2025-06-02' "
    "WHERE id BETWEEN 151 AND 200",
    "UPDATE akko.raw_transactions SET booking_date = date '2030-12-31', quantity = 32767 WHERE id % 13 = 0",
    f"INSERT INTO akko.raw_transactions (id, account_id, amount, currency, created_at, updated_at) "
    f"SELECT g, 42, 99999999.99, 'EUR', timestamp '2025-06-03 00:00:00', timestamp '2025-06-03' "
    f"FROM generate_series({SEED_ROWS + 1}, {SEED_ROWS + 50}) AS g",
]


@pytest.fixture(scope="module")
def merge_run(first_run: Captured, lake: Lakehouse) -> Captured:
    """The same pipeline again after rows changed in PostgreSQL (every table exists now); tests check its steps."""
    with lake.pg.connect() as conn:
        for statement in UPDATE_SQL:
            conn.execute(statement)
    return _capture(lake, lake.run(PIPELINE))


@dataclass
class FailedRun:
    run: Run
    before: dict[str, int | None]
    after: dict[str, int | None]


@pytest.fixture(scope="module")
def failed_run(merge_run: Captured, lake: Lakehouse) -> FailedRun:
    names = (*TABLES, *NEVER_WRITTEN)
    before = lake.snapshot_ids(*names)
    run = lake.run(FAILING_PIPELINE)
    return FailedRun(run, before, lake.snapshot_ids(*names))


def _failure_summary(run: Run) -> str:
    failed = [
        f"{t['task_id']}: {t['state']}: {t['error']}" for t in run.report["tasks"] if t["state"] != "success"
    ]
    return "\n".join(failed) or run.output[-4000:]


# ---------------------------------------------------------------------------------------------------- helpers


def _iceberg_types(lake: Lakehouse, name: str) -> dict[str, str]:
    return {f.name: str(f.field_type) for f in lake.table(name).schema().fields}


def _as_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    data = table.select(COLUMNS).sort_by("id").to_pylist()
    return [tuple(_as_utc(row[c]) for c in COLUMNS) for row in data]


def _assert_same_rows(iceberg: pa.Table, pg_rows: list[tuple[Any, ...]]) -> None:
    got = _rows(iceberg)
    want = [tuple(_as_utc(v) for v in row) for row in pg_rows]
    assert len(got) == len(want)
    mismatches = [(w, g) for w, g in zip(want, got, strict=True) if w != g]
    assert not mismatches, (
        f"{len(mismatches)} row(s) differ, first: postgres={mismatches[0][0]} iceberg={mismatches[0][1]}"
    )


def _aggregates_from_postgres(pg: PostgresServer) -> dict[str, Any]:
    counts = ", ".join(f"count({c})" for c in COLUMNS)
    row = pg.query(
        f"""SELECT count(*), {counts}, sum(id), sum(account_id), sum(amount), sum(quantity),
                   round(sum(fx_rate)::numeric, 6), min(created_at), max(created_at), max(settled_at),
                   count(*) FILTER (WHERE is_refund), min(booking_date), max(booking_date),
                   md5(string_agg(description, '|' ORDER BY id)), md5(string_agg(currency, '' ORDER BY id))
            FROM akko.raw_transactions"""
    )[0]
    return _aggregate_dict(row)


def _aggregates_from_arrow(table: pa.Table) -> dict[str, Any]:
    import pyarrow.compute as pc

    t = table.sort_by("id")
    descriptions = [d for d in t.column("description").to_pylist() if d is not None]
    row = (
        t.num_rows,
        *(t.num_rows - t.column(c).null_count for c in COLUMNS),
        pc.sum(t.column("id")).as_py(),
        pc.sum(t.column("account_id")).as_py(),
        pc.sum(t.column("amount")).as_py(),
        pc.sum(t.column("quantity")).as_py(),
        decimal.Decimal(str(round(pc.sum(t.column("fx_rate")).as_py(), 6))),
        pc.min(t.column("created_at")).as_py(),
        pc.max(t.column("created_at")).as_py(),
        pc.max(t.column("settled_at")).as_py(),
        pc.sum(pc.cast(pc.fill_null(t.column("is_refund"), False), pa.int64())).as_py(),
        pc.min(t.column("booking_date")).as_py(),
        pc.max(t.column("booking_date")).as_py(),
        hashlib.md5("|".join(descriptions).encode()).hexdigest(),
        hashlib.md5("".join(t.column("currency").to_pylist()).encode()).hexdigest(),
    )
    return _aggregate_dict(row)


def _aggregate_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [
        "rows",
        *(f"count_{c}" for c in COLUMNS),
        "sum_id",
        "sum_account_id",
        "sum_amount",
        "sum_quantity",
        "sum_fx_rate",
        "min_created_at",
        "max_created_at",
        "max_settled_at",
        "refunds",
        "min_booking_date",
        "max_booking_date",
        "md5_description",
        "md5_currency",
    ]
    return {n: _as_utc(v) for n, v in zip(names, row, strict=True)}


# ---------------------------------------------------------------------------------------------------- tests


def test_sql_ingest_matches_postgres(first_run: Captured, lake: Lakehouse) -> None:
    task = first_run.run.task("load_transactions")
    assert task["state"] == "success"
    assert task["result"]["rows"] == SEED_ROWS and task["result"]["created"] is True

    types = _iceberg_types(lake, "ops.transactions")
    assert types == EXPECTED_TYPES and list(types) == COLUMNS

    table = first_run.tables["ops.transactions"]
    assert table.num_rows == SEED_ROWS
    assert _aggregates_from_arrow(table) == first_run.pg_aggregates
    _assert_same_rows(table, first_run.pg_rows)

    snapshot = lake.table("ops.transactions").snapshot_by_id(first_run.snapshots["ops.transactions"])
    assert snapshot.summary["akko.step"] == "load_transactions"
    assert snapshot.summary["akko.pipeline"] == PIPELINE


def test_sql_ingest_edge_types(first_run: Captured, lake: Lakehouse) -> None:
    """Typed NULL columns keep their type; uuid, jsonb and unconstrained numeric land as usable columns."""
    assert first_run.run.task("load_edge_types")["state"] == "success", _failure_summary(first_run.run)
    types = _iceberg_types(lake, "ops.edge_types")
    assert types == {
        "id": "int",
        "never_set": "int",
        "ref": "uuid",
        "doc": "string",
        "ratio": "decimal(38, 18)",
        "at_time": "time",
    }
    edge = first_run.tables["ops.edge_types"].sort_by("id")
    expected = lake.pg.query(EDGE_QUERY + " ORDER BY id")
    assert edge.column("never_set").null_count == 5
    assert [str(v) for v in edge.column("ref").to_pylist()] == [str(r[2]) for r in expected]
    assert [json.loads(v) if isinstance(v, str) else v for v in edge.column("doc").to_pylist()] == [
        r[3] for r in expected
    ]
    assert [decimal.Decimal(str(v)) for v in edge.column("ratio").to_pylist()] == [r[4] for r in expected]


def test_http_ingest_by_url_and_connection(first_run: Captured, lake: Lakehouse) -> None:
    for step, name in (
        ("load_items_by_url", "ops.items_by_url"),
        ("load_items_by_conn", "ops.items_by_conn"),
    ):
        task = first_run.run.task(step)
        assert task["state"] == "success", _failure_summary(first_run.run)
        assert task["result"]["rows"] == len(ACTIVE_ITEMS)
        table = first_run.tables[name].sort_by("id")
        assert table.to_pylist() == ACTIVE_ITEMS, name
        types = _iceberg_types(lake, name)
        nested = {c: types.pop(c) for c in ("dimensions", "tags")}
        assert types == {
            "id": "long",
            "sku": "string",
            "price": "double",
            "in_stock": "boolean",
            "status": "string",
            "label": "string",
        }
        assert nested["dimensions"].startswith("struct<") and nested["tags"].startswith("list<")
    item_requests = [q for path, q in lake.api.requests if path == "/api/v1/items"]
    assert item_requests[:2] == [{"status": ["active"]}] * 2


def test_merge_rerun_gives_updated_rows_without_duplicates(
    first_run: Captured, merge_run: Captured, lake: Lakehouse
) -> None:
    task = merge_run.run.task("load_transactions")
    assert task["state"] == "success", _failure_summary(merge_run.run)
    assert task["result"]["mode"] == "merge" and task["result"]["created"] is False
    assert _iceberg_types(lake, "ops.transactions") == EXPECTED_TYPES
    table = merge_run.tables["ops.transactions"]
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == SEED_ROWS + 50
    _assert_same_rows(table, merge_run.pg_rows)
    assert _aggregates_from_arrow(table) == merge_run.pg_aggregates
    updated = {r["id"]: r for r in table.to_pylist() if r["id"] <= 3}
    assert {i: r["description"] for i, r in updated.items()} == {
        1: "updated 1",
        2: "updated 2",
        3: "updated 3",
    }
    # a new snapshot, and the previous one still reads the old rows (one atomic commit per run)
    assert merge_run.snapshots["ops.transactions"] != first_run.snapshots["ops.transactions"]
    old = lake.table("ops.transactions").scan(snapshot_id=first_run.snapshots["ops.transactions"]).to_arrow()
    _assert_same_rows(old, first_run.pg_rows)


def test_merge_picks_up_a_column_added_in_postgres(
    first_run: Captured, merge_run: Captured, lake: Lakehouse
) -> None:
    """`SELECT *` over a table that gained a column: the merge evolves the Iceberg schema in the same commit."""
    assert first_run.run.task("load_accounts")["state"] == "success", _failure_summary(first_run.run)
    assert "credit_limit" not in first_run.tables["ops.accounts"].column_names
    assert merge_run.run.task("load_accounts")["state"] == "success", _failure_summary(merge_run.run)
    assert _iceberg_types(lake, "ops.accounts") == {
        "account_id": "long",
        "holder": "string",
        "opened": "date",
        "credit_limit": "decimal(10, 2)",
    }
    got = [
        tuple(r[c] for c in ACCOUNT_COLUMNS)
        for r in merge_run.tables["ops.accounts"].sort_by("account_id").to_pylist()
    ]
    assert got == lake.pg.query(f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM akko.accounts ORDER BY account_id")


def test_http_and_sql_reingest_into_existing_tables(merge_run: Captured, first_run: Captured) -> None:
    """Second writes (overwrite) into tables created by the first run, nested JSON columns included."""
    for step in ("load_items_by_url", "load_items_by_conn", "load_edge_types"):
        assert merge_run.run.task(step)["state"] == "success", _failure_summary(merge_run.run)
    for name in ("ops.items_by_url", "ops.items_by_conn"):
        assert merge_run.tables[name].sort_by("id").to_pylist() == ACTIVE_ITEMS
        assert merge_run.snapshots[name] != first_run.snapshots[name]
    assert merge_run.run.state == "success"


def test_fetch_sql_streams_typed_batches(lake: Lakehouse) -> None:
    """Several fetchmany batches, the first one NULL in `settled_at` throughout: one table, declared types."""
    query = f"SELECT {', '.join(COLUMNS)} FROM akko.raw_transactions ORDER BY settled_at IS NOT NULL, id"
    out = lake.state_dir / "fetch_sql.parquet"
    done = subprocess.run(
        [sys.executable, airflow_runner.__file__, "--fetch-sql", PG_CONN, "300", str(out), query],
        cwd=lake.project_dir,
        env=lake.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    first = lake.pg.query(f"{query} LIMIT 300")
    assert all(row[COLUMNS.index("settled_at")] is None for row in first)
    assert {f.name: str(f.type) for f in table.schema} == {
        "id": "int32",
        "account_id": "int64",
        "amount": "decimal128(12, 2)",
        "fx_rate": "double",
        "quantity": "int32",
        "currency": "string",
        "description": "string",
        "created_at": "timestamp[us]",
        "settled_at": "timestamp[us, tz=UTC]",
        "is_refund": "bool",
        "booking_date": "date32[day]",
        "updated_at": "timestamp[us]",
    }
    _assert_same_rows(
        table, lake.pg.query(f"SELECT {', '.join(COLUMNS)} FROM akko.raw_transactions ORDER BY id")
    )


def test_failures_name_the_problem_and_leave_tables_unchanged(failed_run: FailedRun, lake: Lakehouse) -> None:
    run = failed_run.run
    assert run.state == "failed"
    errors = {t["task_id"]: t["error"] or "" for t in run.report["tasks"]}
    assert all(t["state"] == "failed" for t in run.report["tasks"]), _failure_summary(run)

    wrong_password = errors["wrong_password"]
    assert PG_BAD_CONN in wrong_password and "password authentication failed" in wrong_password
    secrets = {lake.pg.password, lake.pg.password + "-wrong"}
    secrets |= {json.dumps(s)[1:-1] for s in secrets} | {
        lake.pg.uri(password=s).split("@")[0] for s in secrets
    }
    for secret in secrets:
        assert secret not in json.dumps(run.report), "a password leaked into the run report"
        assert secret not in run.output, "a password leaked into the run's output"

    assert PG_CONN in errors["missing_relation"] and "no_such_table" in errors["missing_relation"]

    base = lake.api.base_url
    assert f"{base}/api/v1/broken" in errors["server_error_by_url"] and "500" in errors["server_error_by_url"]
    assert (
        f"{base}/api/v1/broken" in errors["server_error_by_conn"] and "500" in errors["server_error_by_conn"]
    )
    assert API_CONN in errors["server_error_by_conn"]
    closed = f"http://127.0.0.1:{lake.closed_port}/api/v1/items"
    assert closed in errors["unreachable_by_url"]
    assert closed in errors["unreachable_by_conn"] and API_DOWN_CONN in errors["unreachable_by_conn"]
    assert (
        "data.rows" in errors["wrong_records_path"] and f"{base}/api/v1/items" in errors["wrong_records_path"]
    )

    assert failed_run.after == failed_run.before
    assert all(failed_run.before[name] is not None for name in TABLES)
    assert all(failed_run.after[name] is None for name in NEVER_WRITTEN)
    assert not any(lake.catalog().table_exists(name) for name in NEVER_WRITTEN)
