"""Python steps of the demo pipelines. A step function gets its input tables (Arrow), `ctx` and its params."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

PRODUCTS = {
    "Laptop": 1200.0,
    "Phone": 800.0,
    "Tablet": 450.0,
    "Monitor": 300.0,
    "Keyboard": 80.0,
    "Headphones": 150.0,
}
REGIONS = ["EU", "US", "APAC"]


def sample_sales() -> pa.Table:
    """12 deterministic sales rows (same input every run, so re-running leaves the same tables)."""
    products = list(PRODUCTS)
    rows = []
    for i in range(12):
        product = products[i % len(products)]
        rows.append(
            {
                "sale_id": i + 1,
                "sale_date": (dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat(),
                "product": product,
                "region": REGIONS[i % len(REGIONS)],
                "quantity": 1 + (i * 7) % 5,
                "unit_price": PRODUCTS[product],
            }
        )
    return pa.Table.from_pylist(rows)


def bad_sales(count: int) -> pa.Table:
    """Rows the demo's quality gate must stop: a region that does not exist, no quantity, a duplicated id."""
    rows = [
        {
            "sale_id": 1 + i % 12,
            "sale_date": "2026-01-15",
            "product": "Phone",
            "region": "MARS",
            "quantity": 0,
            "unit_price": PRODUCTS["Phone"],
        }
        for i in range(count)
    ]
    return pa.Table.from_pylist(rows)


def generate_sales(ctx, key: str) -> dict:
    """Land the sample as CSV in the object store; `akko run akko_e2e_pipeline --conf '{"bad_rows": 3}'` adds
    rows that break demo.sales' checks, to see the quality gate keep them out."""
    table = sample_sales()
    bad = int(ctx.params.get("bad_rows", 0))
    if bad:
        table = pa.concat_tables([table, bad_sales(bad)])
    path = ctx.object_store.write_csv(key, table)
    return {"rows": table.num_rows, "path": path}


def summarize_sales(sales: pa.Table, expected_rows: int) -> dict:
    """Rows ingested, total revenue, regions covered; refuse a table that does not match what was landed."""
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
