"""The `cluster` profile on the real engines `akko stack` runs: PostgreSQL (shared Iceberg JDBC catalog, Airflow's
metadata DB, operational DB), Trino 476 and Spark Connect 4.1.

Each pipeline runs through the CLI in a subprocess, as a user runs it (`akko run PIPELINE --profile cluster`):
- the demo in its AKKO form: a Spark step writes demo.sales natively (partitioned by region, run identity in the
  snapshot), verification queries run on Trino, Airflow's run is recorded in PostgreSQL;
- the demo pipelines give identical tables on `local` (DuckDB + pyiceberg, no Java) and on `cluster`;
- what Spark wrote, Trino reads identically to pyiceberg;
- Trino or Spark unreachable: the step fails naming the endpoint and the profile, after its retries, and no table
  changes; wrong Trino credentials: an authentication error, and the secret never printed.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.cli import akko, cli_env  # noqa: E402
from tests.fixtures.stack_services import RunningStack  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
HERE = Path(__file__).parent
DEMO_TABLES = {  # table -> sort key
    "demo.sales": "sale_id",
    "marts.revenue_by_region": "region",
    "demo.orders": "order_id",
    "marts.daily_orders": "order_date",
}


@dataclass
class ClusterProject:
    root: Path
    stack: RunningStack

    @property
    def state(self) -> Path:
        return self.stack.state_dir

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(self.root, self.state, **extra)

    def run(self, pipeline: str, profile: str, **extra_env: str) -> str:
        result = akko("run", pipeline, "--profile", profile, env=self.env(**extra_env))
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        return output

    def catalog(self, profile: str) -> Any:
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.lakehouse.catalog import open_catalog

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AKKO_STATE_DIR", str(self.state))
            for key, value in self.stack.env.items():
                patch.setenv(key, value)
            return open_catalog(load_project(self.root, profile=profile))

    def rows(self, profile: str, table: str) -> list[dict[str, Any]]:
        data = self.catalog(profile).load_table(table).scan().to_arrow()
        return data.sort_by(DEMO_TABLES.get(table, data.column_names[0])).to_pylist()

    def snapshot(self, profile: str, table: str) -> int | None:
        catalog = self.catalog(profile)
        if not catalog.table_exists(table):
            return None
        current = catalog.load_table(table).current_snapshot()
        return current.snapshot_id if current else None

    def trino_query(self, sql: str) -> list[tuple[Any, ...]]:
        """Through the cluster profile's SQL engine (Trino over the stack's Airflow connection, HTTPS + password)."""
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.engines.registry import create_engine

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AKKO_STATE_DIR", str(self.state))
            for key, value in self.stack.env.items():
                patch.setenv(key, value)
            project = load_project(self.root, profile="cluster")
            engine = create_engine("trino", project, self.catalog("cluster"))
            try:
                return [tuple(row.values()) for row in engine.query(sql, []).to_pylist()]
            finally:
                engine.close()


@pytest.fixture(scope="module")
def project(cluster_stack: RunningStack) -> Iterator[ClusterProject]:
    root = copy_project(cluster_stack.state_dir.parent / "demo-project")
    for spec in (HERE / "pipelines").iterdir():
        shutil.copy(spec, root / "pipelines" / spec.name)
    yield ClusterProject(root, cluster_stack)


def test_demo_runs_on_the_cluster_engines(project: ClusterProject) -> None:
    import sqlalchemy as sa

    result = akko("demo", "--profile", "cluster", env=project.env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "transform_sales_spark" in output and "land_sales" not in output  # the cluster form of the demo
    assert "row count" in output and "revenue by region" in output  # verification answered by Trino
    sales = project.catalog("cluster").load_table("demo.sales")
    assert sales.scan().to_arrow().num_rows == 12
    assert [(f.name, str(f.transform)) for f in sales.spec().fields] == [("region", "identity")]
    summary = sales.current_snapshot().summary.additional_properties
    assert summary["akko.step"] == "transform_sales_spark" and summary["akko.pipeline"] == "akko_e2e_pipeline"
    # Airflow's metadata DB for this profile is the stack's PostgreSQL.
    engine = sa.create_engine(project.stack.env["AKKO_AIRFLOW_DB"])
    with engine.connect() as conn:
        states = (
            conn.execute(sa.text("SELECT state FROM dag_run WHERE dag_id = 'akko_e2e_pipeline'"))
            .scalars()
            .all()
        )
    engine.dispose()
    assert "success" in states


def test_demo_pipelines_give_identical_tables_on_both_profiles(project: ClusterProject) -> None:
    for profile in ("local", "cluster"):
        for pipeline in ("akko_e2e_pipeline", "sales_by_region_mart", "orders_fanout_ingest"):
            project.run(pipeline, profile)
    for table in DEMO_TABLES:
        local, cluster = project.rows("local", table), project.rows("cluster", table)
        assert len(local) == len(cluster) > 0, table
        for a, b in zip(local, cluster, strict=True):
            assert a.keys() == b.keys(), table
            for column in a:
                assert _same(a[column], b[column]), (table, column, a, b)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_trino_reads_what_spark_wrote(project: ClusterProject) -> None:
    if project.snapshot("cluster", "demo.sales") is None:
        project.run("akko_e2e_pipeline", "cluster")
    through_trino = project.trino_query(
        "SELECT sale_id, region, revenue FROM iceberg.demo.sales ORDER BY sale_id"
    )
    through_pyiceberg = [
        (r["sale_id"], r["region"], r["revenue"]) for r in project.rows("cluster", "demo.sales")
    ]
    assert through_trino == through_pyiceberg and len(through_trino) == 12


def test_unreachable_trino_fails_after_retries_naming_it_and_changes_nothing(project: ClusterProject) -> None:
    if project.snapshot("cluster", "demo.sales") is None:
        project.run("akko_e2e_pipeline", "cluster")
    before = project.snapshot("cluster", "marts.revenue_by_product")
    dead = "trino://akko@127.0.0.1:9/?catalog=iceberg"
    result = akko(
        "run", "cluster_sql_retry", "--profile", "cluster", env=project.env(AIRFLOW_CONN_AKKO_TRINO=dead)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "127.0.0.1:9" in output and "profile 'cluster'" in output
    assert output.count("✗ revenue_by_product") == 2  # the first try and its one retry
    assert project.snapshot("cluster", "marts.revenue_by_product") == before


def test_wrong_trino_password_is_an_authentication_error_without_the_secret(project: ClusterProject) -> None:
    uri = project.stack.env["AIRFLOW_CONN_AKKO_TRINO"]
    parts = urlsplit(uri)
    if not parts.password:
        pytest.skip("this stack's Trino takes no password")
    wrong = "not-the-password-4711"
    netloc = f"{parts.username}:{wrong}@{parts.hostname}:{parts.port}"
    bad = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    result = akko(
        "run", "cluster_sql_retry", "--profile", "cluster", env=project.env(AIRFLOW_CONN_AKKO_TRINO=bad)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "authentication" in output.lower() or "401" in output
    assert wrong not in output and parts.password not in output
    logs = sorted((project.state / "logs").glob("cluster_sql_retry-*.log"), key=lambda f: f.stat().st_mtime)
    assert logs, "akko run keeps Airflow's log of the run"
    airflow_log = logs[-1].read_text(errors="replace")
    assert "akko_trino" in airflow_log and wrong not in airflow_log and parts.password not in airflow_log


def test_unreachable_spark_fails_naming_it_and_changes_nothing(project: ClusterProject) -> None:
    before = project.snapshot("cluster", "demo.sales")
    result = akko(
        "run",
        "akko_e2e_pipeline",
        "--profile",
        "cluster",
        env=project.env(AKKO_SPARK_REMOTE="sc://127.0.0.1:9"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Spark Connect at sc://127.0.0.1:9 (profile 'cluster') is unreachable" in output
    assert project.snapshot("cluster", "demo.sales") == before


def _operational(project: ClusterProject, sql: str) -> list[tuple[Any, ...]]:
    import psycopg2

    env = project.stack.env
    conn = psycopg2.connect(
        host=env["AKKO_PG_HOST"],
        port=int(env["AKKO_PG_PORT"]),
        dbname="akko",
        user=env["AKKO_OPERATIONAL_USER"],
        password=env["AKKO_OPERATIONAL_PASSWORD"],
    )
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def test_banking_demo_replicates_postgres_into_iceberg_with_merge(project: ClusterProject) -> None:
    """Spark reads the operational table over JDBC and merges it by id; Trino builds the report from Iceberg."""
    project.run("banking_replication", "cluster")
    accounts = {r["id"]: r for r in project.rows("cluster", "banking.accounts")}
    in_postgres = dict(_operational(project, "SELECT id, balance FROM banking.accounts"))
    assert {k: v["balance"] for k, v in accounts.items()} == in_postgres and len(accounts) == 50
    _operational(
        project,
        "UPDATE banking.accounts SET balance = balance + 1000 WHERE id = 7;"
        "INSERT INTO banking.accounts VALUES (51, 'owner_new', 12.50, DATE '2026-11-01') ON CONFLICT DO NOTHING",
    )
    project.run("banking_replication", "cluster")
    accounts = {r["id"]: r for r in project.rows("cluster", "banking.accounts")}
    in_postgres = dict(_operational(project, "SELECT id, balance FROM banking.accounts"))
    assert len(accounts) == 51 and {k: v["balance"] for k, v in accounts.items()} == in_postgres
    report = {r["owner"]: r for r in project.rows("cluster", "banking.balances_by_owner")}
    assert sum(r["accounts"] for r in report.values()) == 51
    assert sum(r["balance"] for r in report.values()) == sum(in_postgres.values())
    # The pipeline exists on the cluster profiles only.
    result = akko("run", "banking_replication", "--profile", "local", env=project.env())
    assert result.returncode == 1
    assert "no DAG on profile 'local'" in result.stdout + result.stderr
