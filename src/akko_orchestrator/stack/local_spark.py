"""Spark Connect on demand for the embedded profile: started the first time a `spark` step runs, kept running
for the next ones (`akko stack down` stops it), over the embedded Iceberg catalog itself.

The embedded catalog is pyiceberg's SQL catalog in SQLite, whose tables are Iceberg's JDBC catalog schema, so
Spark opens the very same catalog through Iceberg's JdbcCatalog and the SQLite JDBC driver: a Spark step writes
its table natively there, as it does on the cluster's shared catalog, and pyiceberg, DuckDB and `akko tables`
see the commit at once. No pipeline without a Spark step ever starts it (or needs Java).
"""

from __future__ import annotations

from pathlib import Path

from akko_orchestrator.config.project import Project
from akko_orchestrator.stack.base import StackPaths
from akko_orchestrator.stack.maven import SQLITE_JDBC, fetch_maven
from akko_orchestrator.stack.spark import SparkConnectService
from akko_orchestrator.stack.spark_catalog import IcebergJdbcCatalog
from akko_orchestrator.stack.spark_install import ARTIFACTS


class LocalSparkService(SparkConnectService):
    """`akko stack`'s Spark Connect, under its own folder (`stack/spark-local`), with the SQLite JDBC driver."""

    name = "spark-local"

    def jars(self) -> list[Path]:
        return [fetch_maven(artifact, self.paths.cache) for artifact in (*ARTIFACTS, SQLITE_JDBC)]


def local_spark_service(project: Project) -> LocalSparkService:
    sqlite = project.catalog_uri.removeprefix("sqlite:///")
    catalog = IcebergJdbcCatalog(
        jdbc_url=f"jdbc:sqlite:{sqlite}",
        user="",  # SQLite has no users; Iceberg passes these to the driver, which ignores them
        password="",
        warehouse=project.warehouse,
        name=project.config.lakehouse,  # the JDBC `catalog_name` pyiceberg uses
    )
    return LocalSparkService(StackPaths.for_state_dir(project.state_dir), catalog)


def ensure_local_spark(project: Project) -> str:
    """The Spark Connect URL of the project's local server, started (once, under a lock) if it is not running."""
    if not project.catalog_uri.startswith("sqlite:///"):
        raise ValueError("the on-demand Spark Connect server serves the embedded SQLite catalog only")
    from akko_orchestrator.lakehouse.catalog import open_catalog

    open_catalog(project)  # pyiceberg creates the catalog tables first, in the schema every engine shares
    return local_spark_service(project).start().variables["AKKO_SPARK_REMOTE"]
