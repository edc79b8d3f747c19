"""Functions of the Spark test pipelines."""

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def load(raw: DataFrame) -> DataFrame:
    return raw.select(
        F.col("order_id").cast("bigint").alias("order_id"),
        "customer",
        F.to_timestamp("order_ts").alias("order_ts"),
        F.col("amount").cast("double").alias("amount"),
        "status",
    )


def daily(orders: DataFrame, min_amount: float) -> DataFrame:
    return (
        orders.where(F.col("amount") >= min_amount)
        .groupBy(F.to_date("order_ts").alias("order_date"))
        .agg(F.count("*").alias("orders"), F.round(F.sum("amount"), 2).alias("amount"))
    )


def status_updates(spark: SparkSession) -> DataFrame:
    """Order 1 is now delivered; order 100 is new (with a new column `channel`: the schema evolves)."""
    rows = [
        (1, "c03", "2026-11-01 09:15:00", 23.5, "delivered", "web"),
        (100, "c09", "2026-11-04 08:00:00", 10.0, "new", "shop"),
    ]
    df = spark.createDataFrame(
        rows, "order_id bigint, customer string, ts string, amount double, status string, channel string"
    )
    return df.select(
        "order_id", "customer", F.to_timestamp("ts").alias("order_ts"), "amount", "status", "channel"
    )


def write_itself(spark: SparkSession, orders: DataFrame) -> None:
    big = orders.where(F.col("amount") > 30)
    if not spark.catalog.tableExists("spark.big_orders"):
        big.writeTo("spark.big_orders").using("iceberg").create()
    else:
        big.writeTo("spark.big_orders").append()


def broken(orders: DataFrame) -> DataFrame:
    return orders.withColumn("oops", F.col("no_such_column") + 1)


def run_batch(spark: SparkSession, ctx) -> DataFrame:
    """100 rows of the run's own id range (run `r<N>`: N*100 .. N*100+99), the same in every try."""
    offset = int(ctx.run_id.lstrip("r")) * 100
    return spark.range(offset, offset + 100).select(F.col("id"), F.lit(ctx.run_id).alias("run"))
