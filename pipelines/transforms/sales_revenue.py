"""The demo's transform as a PySpark step (AKKO's cluster form of `transform_sales`): raw CSV -> sales with
revenue. AKKO writes the returned DataFrame to the step's output table (Iceberg, partitioned by region)."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def add_revenue(raw_sales: DataFrame) -> DataFrame:
    """Same columns and types as the SQL form: CSV type inference differs between engines, so cast."""
    return raw_sales.select(
        F.col("sale_id").cast("bigint").alias("sale_id"),
        F.col("sale_date").cast("date").alias("sale_date"),
        F.col("product").cast("string").alias("product"),
        F.col("region").cast("string").alias("region"),
        F.col("quantity").cast("bigint").alias("quantity"),
        F.col("unit_price").cast("double").alias("unit_price"),
        (F.col("quantity") * F.col("unit_price")).cast("double").alias("revenue"),
    )
