"""Iceberg tables as Airflow Assets.

URI scheme: `iceberg://<lakehouse>/<namespace>/<table>`, where `<lakehouse>` is akko.yaml's logical `lakehouse`
name (not an endpoint), so the same table has the same asset on every profile and in every pipeline.
Asset name: `<lakehouse>.<namespace>.<table>`, group `iceberg`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Asset


def table_uri(lakehouse: str, table: str) -> str:
    namespace, name = table.split(".", 1)
    return f"iceberg://{lakehouse}/{namespace}/{name}"


def table_asset(lakehouse: str, table: str) -> Asset:
    from airflow.sdk import Asset

    return Asset(name=f"{lakehouse}.{table}", uri=table_uri(lakehouse, table), group="iceberg")


def table_from_uri(uri: str) -> str:
    """iceberg://akko/demo/sales -> demo.sales."""
    _, _, rest = uri.partition("://")
    _, namespace, name = rest.split("/", 2)
    return f"{namespace}.{name}"
