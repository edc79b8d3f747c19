"""Spark functions of the banking demo."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def accounts_snapshot(accounts: DataFrame) -> DataFrame:
    """The operational rows as they are now, with the time they were replicated."""
    return accounts.withColumn("replicated_at", F.current_timestamp())
