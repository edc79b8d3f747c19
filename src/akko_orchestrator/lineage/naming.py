"""Datasets as OpenLineage names them (spec/Naming.md), so a consumer such as OpenMetadata matches its entities:

| what | namespace | name |
|---|---|---|
| an Iceberg table (`cluster`) | `trino://{host}:{port}` of the profile's Trino | `{catalog}.{namespace}.{table}` |
| an Iceberg table (embedded) | `iceberg://{lakehouse}` (or akko.yaml `lineage.datasets`) | `{catalog}.{namespace}.{table}` |
| a local file | `file` | its absolute path |
| an S3 object | `s3://{bucket}` | `/{key}` |
| an HTTP source | `{scheme}://{host}[:{port}]` | its path |
| a table of a SQL source (PostgreSQL) | `postgres://{host}:{port}` | `{database}.{schema}.{table}` |

The Trino naming is used for Iceberg tables on both profiles (the same table is the same dataset wherever the
pipeline ran, when `lineage.datasets` names the cluster's Trino).
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from akko_orchestrator.config.project import Project


def table_namespace(project: Project) -> str:
    configured = project.config.lineage.datasets
    if configured:
        return configured.rstrip("/")
    trino = project.profile.trino
    if project.profile.engine == "cluster" and trino is not None:
        return _trino_authority(trino.conn_id) or f"iceberg://{project.config.lakehouse}"
    return f"iceberg://{project.config.lakehouse}"


def table_name(project: Project, table: str) -> str:
    trino = project.profile.trino
    catalog = trino.catalog if trino is not None else "iceberg"
    return f"{catalog}.{table}"


@lru_cache(maxsize=8)
def _trino_authority(conn_id: str) -> str | None:
    try:
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(conn_id)
    except Exception:  # no such connection: a table is still named, with the lakehouse's namespace
        return None
    return f"trino://{connection.host}:{connection.port or 8080}" if connection.host else None


def file_dataset(location: str) -> tuple[str, str]:
    """A file as (namespace, name): `file` + path, or `s3://bucket` + `/key`."""
    if location.startswith(("s3://", "s3a://", "gs://")):
        parts = urlsplit(location)
        scheme = "s3" if parts.scheme == "s3a" else parts.scheme
        return f"{scheme}://{parts.netloc}", parts.path or "/"
    return "file", location.removeprefix("file://")


def http_dataset(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    authority = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{authority}", parts.path or "/"


def sql_source_datasets(conn_id: str, query: str) -> list[tuple[str, str]]:
    """The tables a SQL source's query reads, named in the connection's database (PostgreSQL naming)."""
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(conn_id)
    scheme = {"postgres": "postgres", "postgresql": "postgres"}.get(
        connection.conn_type, connection.conn_type
    )
    namespace = f"{scheme}://{connection.host}:{connection.port or 5432}"
    database = connection.schema or ""
    return [(namespace, f"{database}.{name}" if database else name) for name in _query_tables(query)]


def _query_tables(query: str) -> list[str]:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="postgres")
    except (
        sqlglot.errors.SqlglotError,
        RecursionError,
    ):  # a query nested past sqlglot's recursive parser too
        return []
    names = {f"{t.db or 'public'}.{t.name}" for t in tree.find_all(exp.Table) if t.name}
    return sorted(names)
