"""The embedded SQL engine: Trino SQL over Iceberg tables on DuckDB, with Trino's result types."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table.snapshots import ancestors_of

from akko_orchestrator.engines.duckdb.engine import DuckDBEngine, to_duckdb_sql
from akko_orchestrator.engines.duckdb.sandbox import connect
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    catalog = SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=(tmp_path / "wh").as_uri())
    data = pa.table(
        {
            "id": [1, 2, 3, 4],
            "region": ["EU", "US", "EU", "APAC"],
            "qty": [1, 2, 3, 4],
            "price": [10.0, 20.0, 5.0, 1.5],
        }
    )
    write_table(catalog, Output(table="demo.sales", partition_by=["region"]), data)
    write_table(
        catalog, Output(table="demo.regions"), pa.table({"region": ["EU", "US"], "name": ["Europe", "USA"]})
    )
    return DuckDBEngine(catalog)


def test_extensions_load_offline() -> None:
    # duckdb_extensions() lists the extension folder, which the locked-down connection may not read: ask for the
    # functions the three extensions add instead.
    names = {"read_parquet", "read_avro", "iceberg_scan"}
    found = connect().sql(
        "SELECT DISTINCT function_name FROM duckdb_functions() WHERE list_contains(?, function_name)",
        params=[sorted(names)],
    )
    assert {name for (name,) in found.fetchall()} == names


def test_trino_query_with_catalog_prefix_join_and_cte(engine: DuckDBEngine) -> None:
    sql = """
        WITH totals AS (SELECT region, sum(qty * price) AS revenue FROM iceberg.demo.sales GROUP BY region)
        SELECT r.name, t.revenue FROM totals t JOIN demo.regions r ON r.region = t.region ORDER BY t.revenue DESC
    """
    result = engine.query(sql, ["demo.regions", "demo.sales"])
    assert result.to_pylist() == [{"name": "USA", "revenue": 40.0}, {"name": "Europe", "revenue": 25.0}]


def test_sum_of_bigint_stays_bigint_like_trino(engine: DuckDBEngine) -> None:
    result = engine.query("SELECT sum(qty) AS units, count(*) AS n FROM demo.sales", ["demo.sales"])
    assert result.schema.field("units").type == pa.int64()
    assert result.to_pylist() == [{"units": 10, "n": 4}]


def test_trino_functions_are_transpiled(engine: DuckDBEngine) -> None:
    sql = "SELECT count(DISTINCT region) AS regions, try_cast('7' AS bigint) AS seven FROM demo.sales"
    assert engine.query(sql, ["demo.sales"]).to_pylist() == [{"regions": 3, "seven": 7}]
    assert "iceberg." not in to_duckdb_sql("SELECT * FROM iceberg.demo.sales")


def test_what_duckdb_answers_differently_is_refused_at_run_time(engine: DuckDBEngine) -> None:
    """Also the checks that need column types (only known at run time): Trino writes a double as 1.25E-1."""
    with pytest.raises(AkkoError, match="approx_distinct: not supported by the embedded engine"):
        engine.query("SELECT approx_distinct(region) AS n FROM demo.sales", ["demo.sales"])
    with pytest.raises(AkkoError, match="not supported by the embedded engine"):
        engine.query("SELECT CAST(price AS varchar) AS p FROM demo.sales", ["demo.sales"])


def test_missing_table_and_bad_query_are_clear_errors(engine: DuckDBEngine) -> None:
    with pytest.raises(AkkoError, match="demo.nope does not exist yet"):
        engine.query("SELECT * FROM demo.nope", ["demo.nope"])
    with pytest.raises(AkkoError, match="DuckDB could not run the query"):
        engine.query("SELECT no_such_column FROM demo.sales", ["demo.sales"])


# ---------------------------------------------------------------------------------------------------------------
# Pinned snapshots (write-audit-publish: checks read the audit branch, main does not move)


@pytest.fixture
def audited(tmp_path: Path) -> tuple[SqlCatalog, int]:
    """demo.sales with ids 1-2 on main and ids 1-3 on the branch `audit` (created from main, so not an ancestor
    of main's head); then a column added and a row appended on main. Returns the catalog and the audit branch's
    snapshot id."""
    from pyiceberg.types import StringType

    catalog = SqlCatalog("wap", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=(tmp_path / "wh").as_uri())
    catalog.create_namespace("demo")
    rows = pa.table({"id": pa.array([1, 2], pa.int64()), "region": ["EU", "US"]})
    table = catalog.create_table("demo.sales", schema=rows.schema)
    table.append(rows)
    table.manage_snapshots().create_branch(table.current_snapshot().snapshot_id, "audit").commit()
    tx = table.transaction()
    tx.append(pa.table({"id": pa.array([3], pa.int64()), "region": ["EU"]}), branch="audit")
    tx.commit_transaction()
    table = catalog.load_table("demo.sales")
    audit = table.metadata.refs["audit"].snapshot_id
    with table.update_schema() as update:  # after the audit snapshot: not in its schema
        update.add_column("note", StringType())
    table = catalog.load_table("demo.sales")
    table.append(pa.table({"id": pa.array([9], pa.int64()), "region": ["US"], "note": ["late"]}))
    write_table(
        catalog, Output(table="demo.regions"), pa.table({"region": ["EU", "US"], "name": ["Europe", "USA"]})
    )
    return catalog, audit


def test_a_pinned_table_reads_the_branch_snapshot(audited: tuple[SqlCatalog, int]) -> None:
    catalog, audit = audited
    table = catalog.load_table("demo.sales")
    assert audit not in {s.snapshot_id for s in ancestors_of(table.current_snapshot(), table.metadata)}
    engine = DuckDBEngine(catalog)
    sql = "SELECT id FROM demo.sales ORDER BY id"
    assert engine.query(sql, ["demo.sales"], versions={"demo.sales": audit}).column("id").to_pylist() == [
        1,
        2,
        3,
    ]
    assert engine.query(sql, ["demo.sales"]).column("id").to_pylist() == [1, 2, 9]  # main, unchanged
    assert engine.query(sql, ["demo.sales"], versions={}).column("id").to_pylist() == [1, 2, 9]
    # with the catalog prefix and an alias, and the name in another case
    pinned = engine.query(
        "SELECT count(*) AS n, max(s.id) AS top FROM iceberg.demo.sales AS s",
        ["demo.sales"],
        {"DEMO.Sales": audit},
    )
    assert pinned.to_pylist() == [{"n": 3, "top": 3}]
    # the pin applies to that query only
    assert engine.query("SELECT count(*) AS n FROM demo.sales", ["demo.sales"]).to_pylist() == [{"n": 3}]


def test_a_pinned_table_joins_an_unpinned_one(audited: tuple[SqlCatalog, int]) -> None:
    catalog, audit = audited
    sql = """
        SELECT r.name, count(*) AS n FROM demo.sales s JOIN demo.regions r ON r.region = s.region
        GROUP BY r.name ORDER BY r.name
    """
    engine = DuckDBEngine(catalog)
    result = engine.query(sql, ["demo.regions", "demo.sales"], versions={"demo.sales": audit})
    assert result.to_pylist() == [{"name": "Europe", "n": 2}, {"name": "USA", "n": 1}]
    result = engine.query(sql, ["demo.regions", "demo.sales"])
    assert result.to_pylist() == [{"name": "Europe", "n": 1}, {"name": "USA", "n": 2}]


def test_a_pinned_snapshot_has_the_schema_it_was_written_with(audited: tuple[SqlCatalog, int]) -> None:
    """`note` was added after the audit snapshot: the snapshot's rows have no such column, and the column types
    the Trino-semantics translation uses are the snapshot's."""
    catalog, audit = audited
    engine = DuckDBEngine(catalog)
    pinned = engine.query(
        "SELECT * FROM demo.sales ORDER BY id", ["demo.sales"], versions={"demo.sales": audit}
    )
    assert pinned.column_names == ["id", "region"]
    assert engine._register(["demo.sales"], {"demo.sales": audit}) == {
        "demo.sales": {"id": "bigint", "region": "varchar"}
    }
    assert engine._register(["demo.sales"]) == {
        "demo.sales": {"id": "bigint", "region": "varchar", "note": "varchar"}
    }
    with pytest.raises(AkkoError, match="DuckDB could not run the query"):
        engine.query("SELECT note FROM demo.sales", ["demo.sales"], versions={"demo.sales": audit})
    latest = engine.query("SELECT note FROM demo.sales WHERE id = 9", ["demo.sales"])
    assert latest.to_pylist() == [{"note": "late"}]


def test_pins_are_checked(audited: tuple[SqlCatalog, int]) -> None:
    catalog, audit = audited
    engine = DuckDBEngine(catalog)
    with pytest.raises(AkkoError, match="table demo.sales has no snapshot 42"):
        engine.query("SELECT * FROM demo.sales", ["demo.sales"], versions={"demo.sales": 42})
    with pytest.raises(AkkoError, match="cannot pin table demo.nope"):
        engine.query("SELECT * FROM demo.sales", ["demo.sales"], versions={"demo.nope": audit})
    with pytest.raises(AkkoError, match="must be an integer"):
        text = {"demo.sales": f"{audit}"}
        engine.query("SELECT * FROM demo.sales", ["demo.sales"], versions=text)  # type: ignore[arg-type]
    # the user's own time travel stays refused on the embedded engine
    with pytest.raises(AkkoError, match="FOR VERSION/TIMESTAMP AS OF"):
        engine.query(f"SELECT * FROM demo.sales FOR VERSION AS OF {audit}", ["demo.sales"])
