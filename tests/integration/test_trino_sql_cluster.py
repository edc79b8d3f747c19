"""The Trino allow-list (plan/trino_sql.py) against a real Trino 476 (`akko stack`):
- the committed function list is exactly what this Trino's `SHOW FUNCTIONS` lists;
- every construct the embedded profile refuses as not Trino SQL is indeed refused by Trino, and the Trino SQL
  the unit tests pass runs on Trino: the list neither forbids Trino SQL nor admits DuckDB's;
- `akko query --profile cluster` is read-only too: writes are refused before they reach Trino, while SHOW,
  DESCRIBE and EXPLAIN run on Trino.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.cli import akko, cli_env  # noqa: E402
from tests.fixtures.stack_services import RunningStack  # noqa: E402
from tests.unit.test_trino_sql import REFUSED, TRINO  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


class Cluster:
    def __init__(self, root: Path, stack: RunningStack):
        self.root, self.stack = root, stack

    def _project(self) -> Any:
        from akko_orchestrator.config.project import load_project

        return load_project(self.root, profile="cluster")

    def catalog(self) -> Any:
        from akko_orchestrator.lakehouse.catalog import open_catalog

        return open_catalog(self._project())

    def engine(self) -> Any:
        from akko_orchestrator.engines.registry import create_engine

        return create_engine("trino", self._project(), self.catalog())

    def cli(self, *args: str) -> tuple[int, str]:
        done = akko(*args, "--profile", "cluster", env=cli_env(self.root, self.stack.state_dir))
        return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def cluster(cluster_stack: RunningStack) -> Iterator[Cluster]:
    from akko_orchestrator.lakehouse.writer import write_table
    from akko_orchestrator.spec.models import Output

    root = copy_project(cluster_stack.state_dir.parent / "allow-list-project")
    cluster = Cluster(root, cluster_stack)
    patch = (
        pytest.MonkeyPatch()
    )  # the stack's endpoints and secrets, for this module's own engine and catalog
    patch.setenv("AKKO_STATE_DIR", str(cluster_stack.state_dir))
    for key, value in cluster_stack.env.items():
        patch.setenv(key, value)
    catalog = cluster.catalog()
    tables = {
        "demo.sales": pa.table(
            {
                "sale_id": [1, 2],
                "sale_date": pa.array([19000, 19001], pa.int32()).cast(pa.date32()),
                "product": ["Phone", "Laptop"],
                "region": ["EU", "US"],
                "quantity": [1, 3],
                "revenue": [10.0, 30.0],
            }
        ),
        "demo.regions": pa.table({"region": ["EU", "US"], "name": ["Europe", "USA"]}),
        "demo.rates": pa.table({"day": pa.array([19000], pa.int32()).cast(pa.date32()), "rate": [1.1]}),
    }
    for name, data in tables.items():
        write_table(catalog, Output(table=name, mode="overwrite"), data, {})
    yield cluster
    patch.undo()


def test_the_committed_function_list_is_this_trinos(cluster: Cluster) -> None:
    from akko_orchestrator.plan.trino_functions import FUNCTIONS_FILE, format_functions

    engine = cluster.engine()
    try:
        listed = engine.query("SHOW FUNCTIONS", [])
    finally:
        engine.close()
    rows = zip(listed.column("Function").to_pylist(), listed.column("Function Type").to_pylist(), strict=True)
    assert format_functions(rows) == FUNCTIONS_FILE.read_text(encoding="utf-8")


def _trino_error(engine: Any, sql: str) -> str | None:
    from akko_orchestrator.errors import AkkoError

    try:
        engine.query(sql, [])
    except AkkoError as exc:
        return str(exc)
    return None


def test_what_the_embedded_profile_refuses_as_not_trino_trino_refuses_too(cluster: Cluster) -> None:
    engine = cluster.engine()
    try:
        # TABLE(...) is Trino's (the embedded engine lacks table functions): not part of this comparison.
        answered = [
            sql for sql, what, _ in REFUSED if what != "TABLE(...)" and _trino_error(engine, sql) is None
        ]
    finally:
        engine.close()
    assert answered == []


def test_the_trino_sql_the_allow_list_admits_runs_on_trino(cluster: Cluster) -> None:
    engine = cluster.engine()
    try:
        failed = {sql: error for sql in TRINO if (error := _trino_error(engine, sql)) is not None}
    finally:
        engine.close()
    assert failed == {}


def test_akko_query_on_cluster_is_read_only(cluster: Cluster) -> None:
    before = cluster.catalog().load_table("demo.sales").current_snapshot().snapshot_id
    for sql in ("DROP TABLE demo.sales", "DELETE FROM demo.sales", "CREATE TABLE demo.copy AS SELECT 1 AS x"):
        code, output = cluster.cli("query", sql)
        assert code == 1 and "akko query is read-only" in output, output
    catalog = cluster.catalog()
    assert catalog.load_table("demo.sales").current_snapshot().snapshot_id == before
    assert not catalog.table_exists("demo.copy")


def test_show_describe_and_explain_run_on_trino(cluster: Cluster) -> None:
    code, output = cluster.cli("query", "SHOW SCHEMAS")
    assert code == 0 and "demo" in output and "information_schema" in output  # Trino's own answer
    code, output = cluster.cli("query", "DESCRIBE demo.sales")
    assert code == 0 and "sale_id" in output and "bigint" in output
    code, output = cluster.cli("query", "EXPLAIN SELECT region, count(*) FROM demo.sales GROUP BY region")
    assert code == 0 and "Query Plan" in output
