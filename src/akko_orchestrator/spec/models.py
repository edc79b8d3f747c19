"""Typed pipeline spec models. They validate a spec and generate its JSON Schema (`akko schema`).

Every model forbids unknown keys so a typo is an error with a "did you mean", never a silently ignored field.
Shared formats live in spec/base.py, checks in spec/checks.py, alerts and deadlines in spec/alerts.py; all are
re-exported here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from akko_orchestrator.spec.alerts import AlertRule, Deadline
from akko_orchestrator.spec.base import (  # noqa: F401 - re-exported
    DURATION,
    FILE_FORMATS,
    IDENT,
    PARTITION,
    TABLE,
    ConnId,
    Duration,
    Identifier,
    PositiveDuration,
    SpecModel,
    TableName,
    Timeout,
    argument_clashes,
    duration_seconds,
    file_format,
)
from akko_orchestrator.spec.checks import (  # noqa: F401 - re-exported
    CHECK_KINDS,
    PERCENT,
    AcceptedValues,
    Check,
    Freshness,
    RangeCheck,
    Relationship,
    RowCount,
)
from akko_orchestrator.spec.outputs import Output  # noqa: F401 - re-exported
from akko_orchestrator.spec.sources import HttpSource, IngestSource, SqlSource  # noqa: F401 - re-exported


class StepBase(SpecModel):
    id: Identifier
    description: str | None = None
    after: list[Identifier] = Field(
        default_factory=list, description="Steps to run first, beyond those inferred from tables read."
    )
    retries: int | None = Field(None, ge=0, le=20)
    retry_delay: Duration | None = None
    timeout: Timeout | None = None
    profiles: list[Identifier] | None = Field(
        None,
        min_length=1,
        description="Run this step only on these profiles of akko.yaml (default: every profile), e.g. a Spark "
        "transform on `cluster` beside its SQL equivalent on `local`.",
    )
    checks: list[Check] = Field(
        default_factory=list,
        description="Data-quality checks on the output table, run on the written snapshot before it becomes "
        "visible (write-audit-publish): a failing `error` check leaves the table as it was.",
    )


class IngestStep(StepBase):
    """Load files, an HTTP JSON API or a SQL query into an Iceberg table."""

    kind: Literal["ingest"]
    source: IngestSource
    output: Output


class SqlStep(StepBase):
    """A query in Trino SQL. With `output` its result becomes a table; without, it is a verification query."""

    kind: Literal["sql"]
    sql: str | None = Field(None, description="Inline Trino SQL.")
    file: str | None = Field(None, description="A .sql file, relative to the spec file.")
    queries: dict[Identifier, str] | None = Field(
        None,
        min_length=1,
        description="Named verification queries (no `output`); results are logged and returned.",
    )
    output: Output | None = None

    @model_validator(mode="after")
    def _one_query(self) -> SqlStep:
        given = [name for name in ("sql", "file", "queries") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of `sql`, `file`, `queries` (got {', '.join(given) or 'none'})"
            )
        if self.queries is not None and self.output is not None:
            raise ValueError("`queries` are verification queries and cannot have an `output`; use `sql`")
        return self


class PythonStep(StepBase):
    """A function `module:function` receiving input tables (Arrow) and returning the output table."""

    kind: Literal["python"]
    function: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]
    inputs: list[TableName] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict, description="Extra keyword arguments (JSON values).")
    output: Output | None = None

    @model_validator(mode="after")
    def _names_are_distinct(self) -> PythonStep:
        clash = argument_clashes(self.inputs, {}, self.params, reserved=("inputs", "ctx"))
        if clash:
            raise ValueError(clash)
        return self


class JdbcSource(SpecModel):
    """A database table or query read by Spark over JDBC; host, database and credentials come from the Airflow
    connection (PostgreSQL)."""

    conn_id: ConnId
    table: str | None = Field(None, description="`schema.table` in the source database.")
    query: str | None = Field(None, description="A query run by the source database instead of a table.")

    @field_validator("table", "query")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _one(self) -> JdbcSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        return self


class SparkSource(SpecModel):
    """Raw data a Spark step reads itself: files in the object store (or project/URI paths), or a JDBC table."""

    files: str | None = Field(
        None,
        description="`raw/x/*.csv` (object store key), `./data/*.json` (project folder), or a URI. Outside the "
        "project and the object store, only what akko.yaml's `allowed_paths` lists.",
    )
    format: Literal["csv", "parquet", "json"] | None = Field(None, description="Default: the file extension.")
    options: dict[str, str] = Field(
        default_factory=dict, description="Spark reader options; csv defaults to header and inferSchema."
    )
    jdbc: JdbcSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SparkSource:
        if (self.files is None) == (self.jdbc is None):
            raise ValueError("give exactly one of `files` or `jdbc`")
        if self.files is not None and self.file_format() is None:
            raise ValueError(
                f"cannot infer the format of {self.files!r}: set `format` to one of {', '.join(FILE_FORMATS)}"
            )
        if self.jdbc is not None and (self.format is not None or self.options):
            raise ValueError("`format` and `options` only apply to `files`")
        return self

    def file_format(self) -> str | None:
        return file_format(self.files, self.format)


class SparkStep(StepBase):
    """A PySpark script run on Spark Connect: `function(spark, <inputs>, <sources>, <params>)` returns a
    DataFrame written to `output` by Spark, or writes `output` itself and returns None."""

    kind: Literal["spark"]
    script: str = Field(description="A .py file, relative to the spec file.")
    function: Identifier = Field("transform", description="The function of the script to call.")
    inputs: list[TableName] = Field(
        default_factory=list, description="Iceberg tables passed as DataFrames, by their short name."
    )
    sources: dict[Identifier, SparkSource] = Field(
        default_factory=dict, description="Files or JDBC tables passed as DataFrames, by their key."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Extra keyword arguments (JSON values).")
    output: Output | None = None

    @model_validator(mode="after")
    def _names_are_distinct(self) -> SparkStep:
        clash = argument_clashes(self.inputs, self.sources, self.params, reserved=("spark", "inputs", "ctx"))
        if clash:
            raise ValueError(clash)
        return self


class DbtModelOptions(SpecModel):
    """AKKO options of one model (or seed) of a dbt step, by its dbt name."""

    checks: list[Check] = Field(
        default_factory=list,
        description="AKKO checks on the model's table, run with its dbt tests on the new snapshot before it is "
        "published.",
    )
    partition_by: list[Annotated[str, Field(pattern=PARTITION)]] = Field(
        default_factory=list, description="Partition spec used when the model's table is created."
    )


class DbtStep(StepBase):
    """A dbt Core project: every selected model and seed becomes an Iceberg table (namespace: the model's schema),
    its dbt tests are quality gates, and each model is one Airflow task of this step's task group."""

    kind: Literal["dbt"]
    project: str = Field(
        description="The dbt project's folder (holding dbt_project.yml), relative to the spec file."
    )
    select: list[str] = Field(
        default_factory=list,
        description="dbt node selection (`--select`), e.g. `path:models/marts+`; default: all.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="dbt node selection to leave out (`--exclude`)."
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="dbt `--vars` (JSON values).")
    full_refresh: bool = Field(
        False, description="Rebuild incremental models from scratch (`--full-refresh`)."
    )
    namespace: Identifier | None = Field(
        None,
        description="The dbt target schema: the Iceberg namespace of models without a schema of their own "
        "(default: the pipeline's team).",
    )
    models: dict[Identifier, DbtModelOptions] = Field(
        default_factory=dict, description="AKKO options (checks, partitioning) of models, by dbt name."
    )

    @field_validator("select", "exclude", mode="before")
    @classmethod
    def _selectors(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value


Step = Annotated[IngestStep | SqlStep | PythonStep | SparkStep | DbtStep, Field(discriminator="kind")]


class AssetSchedule(SpecModel):
    on: list[TableName] = Field(min_length=1, description="Run whenever any of these tables changes.")


class Defaults(SpecModel):
    retries: int = Field(0, ge=0, le=20)
    retry_delay: Duration = "30s"
    timeout: Timeout | None = None


class Pipeline(SpecModel):
    """One pipeline: one Airflow DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"title": "AKKO pipeline spec"})

    pipeline: Identifier = Field(description="Pipeline id; becomes the Airflow dag_id.")
    description: str | None = None
    owner: str = Field(min_length=1)
    team: Identifier
    tags: list[str] = Field(default_factory=list)
    schedule: Literal["manual"] | str | AssetSchedule = Field(
        "manual", description="`manual`, a cron expression or preset (`@daily`), or `{on: [tables]}`."
    )
    start_date: date = date(2024, 1, 1)
    catchup: bool = False
    max_active_runs: int = Field(1, ge=1)
    profiles: list[Identifier] | None = Field(
        None,
        min_length=1,
        description="Profiles of akko.yaml this pipeline exists on (default: every profile), e.g. a replication "
        "from the cluster's operational database.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    alerts: list[AlertRule] = Field(
        default_factory=list,
        description="Where failures, check warnings and a missed `deadline` are sent (Slack, e-mail), beside "
        "akko.yaml's `alerts`: a rule for the same target replaces akko.yaml's.",
    )
    deadline: Deadline | list[Deadline] | None = Field(
        None,
        description="When this pipeline's tables, or one `table`, must be published (one deadline or a "
        "list); missing one sends `deadline_missed`.",
    )
    steps: list[Step] = Field(min_length=1)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))

    @field_validator("max_active_runs")
    @classmethod
    def _continuous_runs_one(cls, runs: int, info: ValidationInfo) -> int:
        if info.data.get("schedule") == "@continuous" and runs > 1:  # Airflow's DAG would refuse to load
            raise ValueError(
                "`@continuous` runs one run at a time: set `max_active_runs: 1` (or leave it out)"
            )
        return runs
