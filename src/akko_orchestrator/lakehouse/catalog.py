"""Open the profile's Iceberg catalog with pyiceberg (SQL catalog on SQLite/PostgreSQL, or REST/Polaris)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.config.models import RestCatalogSettings
from akko_orchestrator.config.project import Project
from akko_orchestrator.config.secrets import mask, mask_url, redact
from akko_orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def catalog_properties(project: Project) -> dict[str, str]:
    """pyiceberg properties for the profile; secrets are resolved here, at run time, and registered with
    Airflow's secrets masker: masked in every log and message (the client secret alone too, and a password or
    token written into a URI by the environment)."""
    settings = project.profile.catalog
    if isinstance(settings, RestCatalogSettings):
        credential = settings.credential.resolve().get_secret_value()
        mask(credential.partition(":")[2])  # client_id:client_secret
        props = {
            "type": "rest",
            "uri": settings.uri,
            "warehouse": settings.warehouse,
            "credential": credential,
            "scope": settings.scope,
        }
        if settings.oauth2_server_uri:
            props["oauth2-server-uri"] = settings.oauth2_server_uri
    else:
        props = {"type": "sql", "uri": project.catalog_uri, "warehouse": project.warehouse}
        if settings.password is not None:
            props["uri"] = _with_password(props["uri"], settings.password.resolve().get_secret_value())
    for uri in (props["uri"], props.get("oauth2-server-uri")):
        mask_url(uri)
    return props


def open_catalog(project: Project) -> Catalog:
    from pyiceberg.catalog import load_catalog

    props = catalog_properties(project)
    if props["type"] == "sql" and props["uri"].startswith("sqlite:///"):
        Path(props["uri"].removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        Path(project.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    settings = project.profile.catalog
    if not isinstance(settings, RestCatalogSettings):
        return load_catalog(project.config.lakehouse, **props)
    # pyiceberg fetches its OAuth2 token and the catalog config right here: a refused credential or an unreachable
    # server is a configuration problem to report plainly (naming where the secret comes from, never the secret).
    from pyiceberg.exceptions import ForbiddenError, OAuthError, UnauthorizedError
    from requests.exceptions import ConnectionError as RequestsConnectionError

    try:
        return load_catalog(project.config.lakehouse, **props)
    except (OAuthError, UnauthorizedError, ForbiddenError) as exc:
        raise ConfigError(
            f"the REST catalog at {settings.uri} refused the credential from {settings.credential.describe()} "
            f"(client_id:client_secret): {redact(str(exc))}"
        ) from None
    except RequestsConnectionError:
        raise ConfigError(f"cannot reach the REST catalog at {settings.uri}: is it running?") from None


def _with_password(uri: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(uri).set(password=password).render_as_string(hide_password=False)


def split_table(name: str) -> tuple[str, str]:
    namespace, table = name.split(".", 1)
    return namespace, table
