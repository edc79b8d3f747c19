"""The shared Iceberg JDBC catalog as Spark sees it: where it is (`IcebergJdbcCatalog`, built by the stack
manager from its PostgreSQL, or by the embedded profile from its SQLite catalog) and the Spark settings that make
it Spark's default catalog.

The Spark catalog's name is also the `catalog_name` Iceberg's JdbcCatalog reads and writes (there is no
separate setting), so it must be the name pyiceberg and Trino (`iceberg.jdbc-catalog.catalog-name`) use; it is
Spark's default catalog, so `namespace.table` resolves to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IcebergJdbcCatalog:
    """The shared catalog: Iceberg's JDBC catalog tables in PostgreSQL, and the warehouse folder.

    `name` is the Spark catalog's name and the JDBC `catalog_name`: pyiceberg's `load_catalog(name, ...)` and
    Trino's `iceberg.jdbc-catalog.catalog-name` must use the same, or each engine sees its own empty catalog.
    """

    jdbc_url: str  # jdbc:postgresql://127.0.0.1:5432/akko_catalog
    user: str
    password: str = field(repr=False)
    warehouse: str  # file:///.../warehouse, the same URI pyiceberg and Trino use
    name: str = "iceberg"


# The catalog, or how to get it when the server starts (e.g. from the stack's PostgreSQL, once it runs).
CatalogSource = IcebergJdbcCatalog | Callable[[], IcebergJdbcCatalog]


def iceberg_conf(catalog: IcebergJdbcCatalog) -> dict[str, str]:
    """The Iceberg catalog `catalog.name` (Spark's default catalog), and Iceberg's SQL extensions (MERGE INTO)."""
    prefix = f"spark.sql.catalog.{catalog.name}"
    return {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.defaultCatalog": catalog.name,
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": catalog.jdbc_url,
        f"{prefix}.jdbc.user": catalog.user,
        f"{prefix}.jdbc.password": catalog.password,
        # pyiceberg 0.12 (and stack/postgres_databases.py) create `iceberg_tables` with the `iceberg_type` column;
        # V1 makes Iceberg use it (adding it to an older table), so every engine writes 'TABLE' rows and reads the
        # others'.
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": catalog.warehouse,
        # Other engines commit to these tables: a cached table would hide their snapshots for 30 s.
        f"{prefix}.cache-enabled": "false",
    }
