"""The AKKO demo's work as a hand-written Airflow 3 DAG (Task SDK `@task`, pyiceberg + DuckDB, no AKKO import).

`bench_demo.py` copies this file into its own DAG folder and sets PLAIN_DEMO_STATE (catalog, warehouse and
object store folder). Same work as `pipelines/akko_e2e_pipeline.yaml`: 12 sample sales rows as CSV, the CSV
loaded into the Iceberg table demo.raw_sales (overwrite), revenue computed with DuckDB into demo.sales
(overwrite, partitioned by region), the three verification queries, and a summary that checks the row count.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from airflow.sdk import dag, task

STATE = Path(os.environ.get("PLAIN_DEMO_STATE", "/tmp/plain-demo-state"))
RAW_CSV = STATE / "object-store" / "raw" / "sales" / "sales.csv"
PRODUCTS = {
    "Laptop": 1200.0,
    "Phone": 800.0,
    "Tablet": 450.0,
    "Monitor": 300.0,
    "Keyboard": 80.0,
    "Headphones": 150.0,
}
REGIONS = ["EU", "US", "APAC"]
TRANSFORM = """
SELECT sale_id, CAST(sale_date AS date) AS sale_date, product, region, quantity, unit_price,
       CAST(quantity * unit_price AS double) AS revenue
FROM raw_sales
"""
QUERIES = {
    "row_count": "SELECT count(*) AS row_count FROM sales",
    "revenue_by_region": """SELECT region, count(*) AS sales, round(sum(revenue), 2) AS revenue
        FROM sales GROUP BY region ORDER BY revenue DESC""",
    "top_products": """SELECT product, sum(quantity) AS units, round(sum(revenue), 2) AS revenue
        FROM sales GROUP BY product ORDER BY revenue DESC LIMIT 3""",
}


def _catalog():
    from pyiceberg.catalog.sql import SqlCatalog

    (STATE / "warehouse").mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        "demo", uri=f"sqlite:///{STATE / 'catalog.db'}", warehouse=(STATE / "warehouse").as_uri()
    )


def _overwrite(name: str, data: Any, partition_by: str | None = None) -> int:
    """Overwrite an Iceberg table, creating it (with its partition spec) in the same commit the first time."""
    catalog = _catalog()
    catalog.create_namespace_if_not_exists(name.split(".")[0])
    if catalog.table_exists(name):
        table = catalog.load_table(name)
        table.overwrite(data)
        return table.current_snapshot().snapshot_id
    tx = catalog.create_table_transaction(name, schema=data.schema)
    if partition_by:
        with tx.update_spec() as spec:
            spec.add_identity(partition_by)
    tx.append(data)
    return tx.commit_transaction().current_snapshot().snapshot_id


def _duckdb():
    """In-memory DuckDB with parquet, avro and iceberg loaded from the duckdb-extension-* packages (offline)."""
    import importlib

    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in ("parquet", "avro", "iceberg"):
        module = importlib.import_module(f"duckdb_extension_{name}")
        found = sorted(Path(str(module.__file__)).parent.glob("extensions/*/*.duckdb_extension"))
        con.load_extension(str(found[-1]))
    return con


def _view(con: Any, view: str, table: str) -> None:
    location = _catalog().load_table(table).metadata_location.replace("'", "''")
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM iceberg_scan('{location}')")


@dag(
    dag_id="plain_demo",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["demo", "plain"],
    default_args={"owner": "data-platform", "retries": 1, "retry_delay": dt.timedelta(seconds=10)},
)
def plain_demo():
    @task
    def generate_sales() -> dict:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        products = list(PRODUCTS)
        rows = [
            {
                "sale_id": i + 1,
                "sale_date": (dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat(),
                "product": products[i % len(products)],
                "region": REGIONS[i % len(REGIONS)],
                "quantity": 1 + (i * 7) % 5,
                "unit_price": PRODUCTS[products[i % len(products)]],
            }
            for i in range(12)
        ]
        RAW_CSV.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(pa.Table.from_pylist(rows), RAW_CSV)
        return {"rows": len(rows), "path": str(RAW_CSV)}

    @task
    def land_sales() -> dict:
        import pyarrow.csv as pacsv

        data = pacsv.read_csv(RAW_CSV)
        return {
            "table": "demo.raw_sales",
            "rows": data.num_rows,
            "snapshot_id": _overwrite("demo.raw_sales", data),
        }

    @task
    def transform_sales() -> dict:
        con = _duckdb()
        _view(con, "raw_sales", "demo.raw_sales")
        data = con.sql(TRANSFORM).to_arrow_table()
        con.close()
        snapshot = _overwrite("demo.sales", data, partition_by="region")
        return {"table": "demo.sales", "rows": data.num_rows, "snapshot_id": snapshot}

    @task
    def verify_sales() -> dict:
        con = _duckdb()
        _view(con, "sales", "demo.sales")
        results = {}
        for name, sql in QUERIES.items():
            relation = con.sql(sql)
            results[name] = {"columns": relation.columns, "rows": [list(r) for r in relation.fetchall()]}
        con.close()
        return {"queries": results}

    @task
    def summary(expected_rows: int = 12) -> dict:
        sales = _catalog().load_table("demo.sales").scan().to_arrow()
        if sales.num_rows != expected_rows:
            raise ValueError(f"demo.sales has {sales.num_rows} rows, expected {expected_rows}")
        revenue = sales.column("revenue").to_pylist()
        if any(value is None or value <= 0 for value in revenue):
            raise ValueError("demo.sales has rows without a positive revenue")
        return {
            "rows_ingested": sales.num_rows,
            "total_revenue": round(sum(revenue), 2),
            "regions_covered": sorted(set(sales.column("region").to_pylist())),
        }

    generate_sales() >> land_sales() >> transform_sales() >> verify_sales() >> summary()


plain_demo()
