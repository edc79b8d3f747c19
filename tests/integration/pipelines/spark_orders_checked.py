"""Functions of the checked Spark test pipelines (write-audit-publish)."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def daily(checked_orders: DataFrame, min_amount: float) -> DataFrame:
    return (
        checked_orders.where(F.col("amount") >= min_amount)
        .groupBy(F.to_date("order_ts").alias("order_date"))
        .agg(F.count("*").alias("orders"), F.round(F.sum("amount"), 2).alias("amount"))
    )
