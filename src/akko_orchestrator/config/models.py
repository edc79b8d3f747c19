"""Profile models. No endpoint, bucket or credential is a constant here: they come from akko.yaml or the environment.

Secrets are never values in a file: a `SecretRef` names the environment variable or Airflow connection that holds
one, and is resolved only at run time.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from akko_orchestrator.ci.settings import CiSettings
from akko_orchestrator.config.alerts import ProjectAlerts
from akko_orchestrator.config.dag_folders import DagFolders, default_folders
from akko_orchestrator.config.maintenance import MaintenanceSettings
from akko_orchestrator.config.secrets import mask
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.guardrails.settings import GuardrailSettings
from akko_orchestrator.observability.settings import MetricsSettings

_TEAM_NAME = re.compile(r"[A-Za-z0-9_-]{3,50}")
# Environment variables that are AKKO's and never a team's dbt variables: Airflow's connections, variables and
# configuration (AIRFLOW_CONN_*, AIRFLOW__*), AKKO's settings and secrets, dbt's own settings and secrets.
RESERVED_ENV_PREFIXES = ("AIRFLOW_", "AKKO_", "DBT_")


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(ConfigModel):
    """Where a secret lives: an environment variable (`env`) or an Airflow connection's password (`conn_id`)."""

    env: str | None = None
    conn_id: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.conn_id is None):
            raise ValueError("a secret reference names exactly one of `env` or `conn_id`")
        return self

    def resolve(self) -> SecretStr:
        """The secret, registered with Airflow's secrets masker: it is masked in every log from now on."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"secret not set: environment variable {self.env} is empty or missing")
            mask(value)
            return SecretStr(value)
        from airflow.sdk import BaseHook  # deferred: only a run that needs the secret pays for Airflow

        password = BaseHook.get_connection(str(self.conn_id)).password
        if not password:
            raise ConfigError(f"secret not set: Airflow connection '{self.conn_id}' has no password")
        mask(password)
        return SecretStr(password)

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"Airflow connection {self.conn_id}"


class SqlCatalogSettings(ConfigModel):
    """pyiceberg SQL catalog (SQLite on `local`; PostgreSQL JDBC-catalog schema when shared with Trino/Spark)."""

    type: Literal["sql"] = "sql"
    uri: str | None = Field(
        None, description="SQLAlchemy URI; default: SQLite in the profile's state folder."
    )
    warehouse: str | None = Field(None, description="Warehouse location; default: the state folder.")
    password: SecretRef | None = None


class RestCatalogSettings(ConfigModel):
    """Iceberg REST catalog (Apache Polaris in AKKO), OAuth2 client credentials."""

    type: Literal["rest"]
    uri: str
    warehouse: str
    credential: SecretRef = Field(description="Holds `client_id:client_secret`.")
    scope: str = "PRINCIPAL_ROLE:ALL"
    oauth2_server_uri: str | None = None


CatalogSettings = Annotated[SqlCatalogSettings | RestCatalogSettings, Field(discriminator="type")]


class ObjectStoreSettings(ConfigModel):
    """Where raw files land: a local folder, or an S3-compatible bucket (path-style for SeaweedFS/MinIO)."""

    uri: str | None = Field(None, description="Folder or `s3://bucket/prefix`; default: the state folder.")
    endpoint: str | None = None
    region: str | None = None
    path_style: bool = False
    access_key: SecretRef | None = None
    secret_key: SecretRef | None = None

    @property
    def is_s3(self) -> bool:
        return bool(self.uri and self.uri.startswith("s3://"))

    @model_validator(mode="after")
    def _s3_needs_keys(self) -> ObjectStoreSettings:
        if self.is_s3 and (self.access_key is None or self.secret_key is None):
            raise ValueError("an s3:// object store needs `access_key` and `secret_key` secret references")
        return self


class TrinoSettings(ConfigModel):
    """Trino reached through an Airflow connection (host, port, user, password or JWT, TLS)."""

    conn_id: str = "trino_default"
    catalog: str = "iceberg"


class SparkSettings(ConfigModel):
    remote: str = Field(description="Spark Connect URL, e.g. sc://host:15002.", pattern=r"^sc://")


class KeycloakSettings(ConfigModel):
    """Keycloak SSO for Airflow's UI and API (Airflow's Keycloak auth manager, apache-airflow-providers-keycloak)."""

    server_url: str = Field(description="Keycloak's base URL, e.g. https://keycloak.akko:8443.")
    realm: str = "akko"
    client_id: str = "airflow"
    client_secret: SecretRef = Field(description="The confidential client's secret (env var or connection).")


class CelerySettings(ConfigModel):
    """CeleryExecutor: the broker (Redis) and result backend (the metadata DB by default)."""

    broker_url: str = Field(description="e.g. redis://127.0.0.1:6379/0.")
    result_backend: str | None = Field(
        None, description="Default: Airflow's metadata DB (db+postgresql://...)."
    )
    queues: list[str] = Field(default_factory=lambda: ["default"])


class AirflowSettings(ConfigModel):
    """How the profile's Airflow runs: executor and auth manager (a profile's `airflow:`)."""

    executor: Literal["LocalExecutor", "CeleryExecutor", "KubernetesExecutor"] = "LocalExecutor"
    auth: Literal["simple", "keycloak"] = Field(
        "simple", description="`simple` (one local admin, development) or `keycloak` (SSO with AKKO's roles)."
    )
    keycloak: KeycloakSettings | None = None
    celery: CelerySettings | None = None

    @model_validator(mode="after")
    def _complete(self) -> AirflowSettings:
        if self.auth == "keycloak" and self.keycloak is None:
            raise ValueError("auth `keycloak` needs a `keycloak:` section (server_url, client_secret)")
        if self.executor == "CeleryExecutor" and self.celery is None:
            raise ValueError("executor `CeleryExecutor` needs a `celery:` section (broker_url)")
        return self


class Profile(ConfigModel):
    """One execution target. `embedded`: pyiceberg + DuckDB + local files. `cluster`: Trino, Spark, REST catalog, S3."""

    engine: Literal["embedded", "cluster"] = "embedded"
    catalog: CatalogSettings = Field(default_factory=SqlCatalogSettings)
    object_store: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    trino: TrinoSettings | None = None
    spark: SparkSettings | None = None
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)

    @model_validator(mode="after")
    def _cluster_is_complete(self) -> Profile:
        if self.engine != "cluster":
            return self
        missing = [name for name in ("trino", "spark") if getattr(self, name) is None]
        if self.object_store.uri is None:
            missing.append("object_store.uri")
        if isinstance(self.catalog, SqlCatalogSettings) and self.catalog.uri is None:
            missing.append("catalog.uri")
        if missing:
            raise ValueError(f"a cluster profile needs {', '.join(missing)}")
        return self

    @property
    def sql_engine(self) -> str:
        return "trino" if self.engine == "cluster" else "duckdb"


class LineageSettings(ConfigModel):
    """OpenLineage events of every step, emitted by Airflow's OpenLineage provider (akko.yaml `lineage:`).

    Every transport but `off` also appends each event to the project's local event log, which `akko lineage`
    reads."""

    transport: Literal["http", "file", "console", "off"] = Field(
        "file",
        description="`http` (e.g. OpenMetadata, Marquez), `console`, `file` (the local log only), `off`.",
    )
    url: str | None = Field(None, description="http: the consumer's base URL, e.g. http://openmetadata:8585.")
    endpoint: str = Field(
        "api/v1/openlineage/lineage",
        description="http: the path events are POSTed to (OpenMetadata's; Marquez: api/v1/lineage).",
    )
    api_key: SecretRef | None = Field(
        None,
        description="http: the bearer token (OpenMetadata's JWT), from an env var or an Airflow connection.",
    )
    timeout: float = Field(
        5.0, gt=0, le=60, description="http: seconds before an event is given up (a warning)."
    )
    namespace: str = Field("akko", min_length=1, description="The OpenLineage job namespace of this Airflow.")
    datasets: str | None = Field(
        None,
        description="The dataset namespace of Iceberg tables, e.g. trino://trino.akko:8080 (default: the "
        "profile's Trino as trino://host:port; on the embedded profile iceberg://<lakehouse>).",
    )
    log: str | None = Field(None, description="The local event log (default: <state>/lineage/events.jsonl).")

    @field_validator("transport", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value  # akko.yaml is YAML 1.1: a bare `off` reads as false

    @model_validator(mode="after")
    def _http_needs_url(self) -> LineageSettings:
        if self.transport == "http" and not self.url:
            raise ValueError("lineage transport `http` needs `url`")
        return self


class TeamSettings(ConfigModel):
    """A tenant: the Iceberg namespaces its pipelines may write (and read), what else they may read, and the
    Airflow connections its steps may use (akko.yaml `teams:`; a pipeline's `team` names one)."""

    namespaces: list[str] = Field(min_length=1, description="Iceberg namespaces the team writes and reads.")
    reads: list[str] = Field(default_factory=list, description="Other namespaces the team may only read.")
    connections: list[str] = Field(
        default_factory=list,
        description="Airflow connection ids (shell-style patterns) the team's steps may use.",
    )
    files: list[str] | None = Field(
        None,
        description="Object-store folders (key prefixes such as `raw/sales`) the team's steps may read and "
        "write; default `raw/<team>`. Another team's folders, and AKKO's own `_akko/`, are never theirs.",
    )

    env_vars: list[str] = Field(
        default_factory=list,
        description="Environment variables (names or shell-style patterns such as `SALES_*`) the team's dbt "
        "projects may read with env_var(); dbt runs with no other variable of AKKO's environment. `AIRFLOW_*`, "
        "`AKKO_*` and `DBT_*` are AKKO's (connections, secrets, dbt's settings) and never passed.",
    )

    @field_validator("env_vars")
    @classmethod
    def _not_platform_variables(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not pattern.strip():
                raise ValueError(
                    "an empty variable name: name the team's variables, e.g. SALES_REGION or SALES_*"
                )
            for prefix in RESERVED_ENV_PREFIXES:
                if pattern.startswith(prefix) or fnmatchcase(prefix + "X", pattern):
                    raise ValueError(
                        f"'{pattern}' would pass AKKO's own variables ({prefix}*: connections, secrets, dbt "
                        "settings) to dbt: name the team's variables, e.g. SALES_REGION or SALES_*"
                    )
        return patterns

    @field_validator("files")
    @classmethod
    def _relative_folders(cls, folders: list[str] | None) -> list[str] | None:
        for folder in folders or []:
            parts = folder.strip("/").split("/")
            if "://" in folder or folder.startswith("/") or not folder.strip("/") or ".." in parts:
                raise ValueError(
                    f"'{folder}' is not an object-store folder: write a key prefix such as raw/sales"
                )
            if parts[0] == "_akko":
                raise ValueError(f"'{folder}': `_akko/` is AKKO's own (staging, run state)")
        return [folder.strip("/") for folder in folders] if folders is not None else None


class ProjectConfig(ConfigModel):
    """akko.yaml."""

    project: str = "akko"
    lakehouse: str = Field(
        "akko",
        pattern=r"^[a-z][a-z0-9-]*$",
        description="Logical lakehouse name: assets are iceberg://<lakehouse>/<ns>/<table>.",
    )
    pipelines: str = "pipelines"
    python_path: list[str] = Field(default_factory=lambda: ["pipelines"])
    state_dir: str = Field(
        ".akko", description="Local state: catalog, warehouse, object store, Airflow home."
    )
    profile: str = "local"
    allowed_paths: list[str] = Field(
        default_factory=list,
        description="Folders and URI prefixes outside the project folder and the profile's object store that "
        "specs' `files` may read, e.g. `/data/landing`, `../shared` (relative to the project folder), "
        "`s3://other-bucket/landing/`, `https://example.org/data/`. Anything else outside is refused, by "
        "`akko validate` and again when a step runs (real paths: a symlink out of the project is outside).",
    )
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    teams: dict[str, TeamSettings] = Field(
        default_factory=dict,
        description="Tenants. Empty: no isolation. Otherwise every pipeline's `team` must be one of them, and its "
        "steps may only write the team's namespaces and read those plus `reads`.",
    )
    dags: DagFolders = Field(
        default_factory=default_folders,
        description="Folders of hand-written Airflow DAG files (relative to the project folder), parsed beside "
        "the pipelines' DAGs and judged by the `guardrails`: `dags` or `{path: dags, team: demo}` (the team's "
        "DAG bundle parses it in multi-team mode).",
    )
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    ci: CiSettings = Field(default_factory=CiSettings, description="`akko ci`: the project's pipeline tests.")
    profiles: dict[str, Profile] = Field(default_factory=lambda: {"local": Profile()})
    alerts: ProjectAlerts = Field(
        default_factory=list,
        description="Default alert rules of every pipeline (failures, check warnings, missed deadlines to Slack "
        "or e-mail through Airflow connections); a spec's `alerts` add to them. See docs/alerts.md.",
    )
    maintenance: MaintenanceSettings | None = Field(
        None,
        description="Iceberg table maintenance, compiled into the DAG `akko_maintenance` (docs/maintenance.md).",
    )

    @field_validator("teams")
    @classmethod
    def _team_names(cls, teams: dict[str, TeamSettings]) -> dict[str, TeamSettings]:
        # Airflow's own rule for team names (`airflow teams create`): multi-team mode creates one per team.
        bad = sorted(name for name in teams if not _TEAM_NAME.fullmatch(name))
        if bad:
            raise ValueError(
                f"team name(s) {', '.join(bad)}: 3 to 50 letters, digits, `_` or `-` (Airflow's team name rule)"
            )
        return teams
