"""Tests of the demo pipelines with akko.testing, as a project's own pipeline tests (`akko ci` runs them: see
akko.yaml `ci.tests`). Each runs in a few seconds on a temporary embedded lakehouse: real Iceberg tables, real
DuckDB, the steps' own runtime and quality gates."""

from __future__ import annotations

from pathlib import Path

from akko.testing import run_pipeline

PROJECT = Path(__file__).resolve().parents[2]  # the folder of akko.yaml
RAW_SALES = [
    {
        "sale_id": 1,
        "sale_date": "2026-01-01",
        "product": "Laptop",
        "region": "EU",
        "quantity": 2,
        "unit_price": 1200.0,
    },
    {
        "sale_id": 2,
        "sale_date": "2026-01-02",
        "product": "Phone",
        "region": "US",
        "quantity": 1,
        "unit_price": 800.0,
    },
    {
        "sale_id": 3,
        "sale_date": "2026-01-03",
        "product": "Tablet",
        "region": "EU",
        "quantity": 3,
        "unit_price": 450.0,
    },
]


def test_sales_get_their_revenue_and_feed_the_mart(akko_lakehouse) -> None:
    akko_lakehouse.project = PROJECT
    sales = akko_lakehouse.run("akko_e2e_pipeline", {"demo.raw_sales": RAW_SALES}, steps=["transform_sales"])
    assert sales.ok, sales.errors
    rows = sorted(sales.table("demo.sales").to_pylist(), key=lambda r: r["sale_id"])
    assert [r["revenue"] for r in rows] == [2400.0, 800.0, 1350.0]
    assert {c.name: c.status for c in sales.checks if c.table == "demo.sales"}["unique_sale_id"] == "pass"

    mart = akko_lakehouse.run("sales_by_region_mart")  # reads the demo.sales the first run published
    assert mart.ok, mart.errors
    by_region = {r["region"]: r["revenue"] for r in mart.table("marts.revenue_by_region").to_pylist()}
    assert by_region == {"EU": 3750.0, "US": 800.0}


def test_the_quality_gate_keeps_bad_rows_out() -> None:
    bad = {**RAW_SALES[0], "sale_id": 4, "region": "MARS"}
    result = run_pipeline("akko_e2e_pipeline", {"demo.raw_sales": [*RAW_SALES, bad]}, project=PROJECT)
    assert result.steps["transform_sales"] == "failed"
    assert result.steps["summary"] == "upstream_failed"
    assert result.check("demo.sales", "accepted_values_region").failing_rows == 1
    assert [c.name for c in result.failed_checks()] == ["accepted_values_region"]
    assert result.table("demo.sales").num_rows == 0  # main untouched: nothing was published
    assert result.rejected("demo.sales").column("region").to_pylist().count("MARS") == 1
