"""The embedded SQL engine: Trino SQL over Iceberg tables on DuckDB, with Trino's result types."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.engines.duckdb_engine import DuckDBEngine, connect, to_duckdb_sql
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    catalog = SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=tmp_path.as_uri())
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
    loaded = connect().sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
    assert {"parquet", "avro", "iceberg"} <= {name for (name,) in loaded}


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
