"""Open the profile's Iceberg catalog with pyiceberg (SQL catalog on SQLite/PostgreSQL, or REST/Polaris)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.config.models import RestCatalogSettings
from akko_orchestrator.config.project import Project

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def catalog_properties(project: Project) -> dict[str, str]:
    """pyiceberg properties for the profile; secrets are resolved here, at run time, and never logged."""
    settings = project.profile.catalog
    if isinstance(settings, RestCatalogSettings):
        props = {
            "type": "rest",
            "uri": settings.uri,
            "warehouse": settings.warehouse,
            "credential": settings.credential.resolve().get_secret_value(),
            "scope": settings.scope,
        }
        if settings.oauth2_server_uri:
            props["oauth2-server-uri"] = settings.oauth2_server_uri
        return props
    props = {"type": "sql", "uri": project.catalog_uri, "warehouse": project.warehouse}
    if settings.password is not None:
        props["uri"] = _with_password(props["uri"], settings.password.resolve().get_secret_value())
    return props


def open_catalog(project: Project) -> Catalog:
    from pyiceberg.catalog import load_catalog

    props = catalog_properties(project)
    if props["type"] == "sql" and props["uri"].startswith("sqlite:///"):
        Path(props["uri"].removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        Path(project.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return load_catalog(project.config.lakehouse, **props)


def _with_password(uri: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(uri).set(password=password).render_as_string(hide_password=False)


def split_table(name: str) -> tuple[str, str]:
    namespace, table = name.split(".", 1)
    return namespace, table
