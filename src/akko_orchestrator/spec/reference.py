"""Generate the spec reference (docs/spec-reference.md) and the JSON Schema file from the spec models.

    uv run python -m akko_orchestrator.spec.reference           # rewrite both files in the current folder
    uv run python -m akko_orchestrator.spec.reference --check   # exit 1 if either is out of date

Every model reachable from `Pipeline` is documented in order of discovery: its docstring, the rules its validators
enforce, and one table row per field (type, default, description). A field without a description is an error, so
the reference cannot silently fall behind the models. Output is deterministic: same models, same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from akko_orchestrator.spec import models
from akko_orchestrator.spec.models import DURATION, IDENT, PARTITION, PERCENT, TABLE, Pipeline, PythonStep
from akko_orchestrator.spec.scaffold import scaffold
from akko_orchestrator.spec.schema import json_schema_text

REFERENCE_PATH = Path("docs/spec-reference.md")
SCHEMA_PATH = Path("schemas/pipeline.schema.json")
REGENERATE = "uv run python -m akko_orchestrator.spec.reference"

# Named value formats: pattern -> (name, what it is, examples).
FUNCTION = next(
    m.pattern for m in PythonStep.model_fields["function"].metadata if getattr(m, "pattern", None)
)
FORMATS: dict[str, tuple[str, str, str]] = {
    IDENT: (
        "id",
        "lowercase letters, digits and `_`, starting with a letter; at most 100 characters",
        "`daily_sales`",
    ),
    TABLE: ("table", "an Iceberg table as `namespace.table`, lowercase", "`demo.sales`, `marts.revenue`"),
    PERCENT: ("percentage", "a number followed by `%`", "`10%`, `2.5%`, `200%`"),
    DURATION: (
        "duration",
        "a number and a unit: `ms`, `s`, `m`, `h` or `d`",
        "`500ms`, `30s`, `5m`, `2h`, `1d`",
    ),
    PARTITION: (
        "partition field",
        "a column, or a transform of one: `year`, `month`, `day`, `hour`, `bucket(N, col)`, `truncate(N, col)`",
        "`region`, `day(order_ts)`, `bucket(16, id)`",
    ),
    FUNCTION: (
        "function",
        "`module:function`; the module is imported from akko.yaml's `python_path`",
        "`demo_functions:summarize_sales`",
    ),
}

# Descriptions for fields whose model gives none ("Model.field"; inherited fields are looked up along the MRO).
FIELD_NOTES: dict[str, str] = {
    "Pipeline.description": "Shown in Airflow as the DAG's description.",
    "Pipeline.owner": "Owner shown in Airflow (the tasks' `owner`).",
    "Pipeline.team": "Owning team, the pipeline's tenant; the DAG is tagged `team:<team>`. When akko.yaml declares "
    "`teams`, it must be one of them, and its steps may only write the team's namespaces, read those plus its "
    "`reads` and use its `connections` ([teams](teams.md)).",
    "Pipeline.tags": "Airflow tags (sorted, duplicates dropped); `akko` and `team:<team>` are always added.",
    "Pipeline.start_date": "First logical date (UTC midnight) for cron schedules.",
    "Pipeline.catchup": "Run the intervals missed since `start_date` (Airflow `catchup`).",
    "Pipeline.max_active_runs": "How many runs of this pipeline may run at once.",
    "Pipeline.defaults": "Retries and timeouts applied to every step.",
    "Pipeline.steps": "The steps, in any order: dependencies come from tables read and written, and `after`.",
    "Defaults.retries": "Retries of a failed step.",
    "Defaults.retry_delay": "Wait between retries.",
    "Defaults.timeout": "A step running longer fails (Airflow `execution_timeout`).",
    "StepBase.id": "Step id, unique in the pipeline; the Airflow task id (task group id for a fanned-out ingest).",
    "StepBase.description": "Shown in Airflow as the task's documentation.",
    "StepBase.retries": "Overrides `defaults.retries` for this step.",
    "StepBase.retry_delay": "Overrides `defaults.retry_delay` for this step.",
    "StepBase.timeout": "Overrides `defaults.timeout` for this step.",
    "IngestStep.kind": "`ingest`.",
    "IngestStep.source": "Where the data comes from.",
    "IngestStep.output": "The Iceberg table written.",
    "SqlStep.kind": "`sql`.",
    "SqlStep.output": "The Iceberg table the query's result is written to; none for verification queries.",
    "PythonStep.kind": "`python`.",
    "PythonStep.function": "The function to call.",
    "PythonStep.inputs": "Tables loaded as Arrow and passed to the function; the step runs after their writers.",
    "PythonStep.output": "The Iceberg table the function's return value is written to; none to just return it.",
    "HttpSource.endpoint": "Path appended to `url` or to the connection's host.",
    "HttpSource.params": "Query-string parameters.",
    "SqlSource.conn_id": "Airflow connection to run the query on (any DB-API hook, e.g. PostgreSQL).",
    "SqlSource.query": "The query, in the connection's own SQL dialect.",
    "IngestSource.http": "A JSON HTTP API.",
    "IngestSource.sql": "A query over an Airflow connection.",
    "Output.table": "The table written (created on first write).",
    "SparkStep.kind": "`spark`.",
    "SparkStep.output": "The Iceberg table Spark writes the returned DataFrame to (or the function writes itself).",
    "DbtStep.kind": "`dbt`.",
    "JdbcSource.conn_id": "Airflow connection (PostgreSQL) holding host, port, database, user and password.",
    "SparkSource.jdbc": "A table or query of a PostgreSQL database, read by Spark over JDBC.",
    "Check.accepted_values": "Every non-NULL value of a column is one of a list.",
    "Check.range": "Every non-NULL value of a column is within inclusive bounds.",
    "Check.row_count": "The table's row count after the write: absolute bounds, or change relative to before.",
    "Check.freshness": "The newest value of a timestamp or date column is recent enough.",
    "Check.relationships": "Every non-NULL value of a column exists in another table (a foreign key).",
    "AcceptedValues.column": "The column checked.",
    "RangeCheck.column": "The column checked.",
    "RangeCheck.min": "Lowest accepted value (inclusive).",
    "RangeCheck.max": "Highest accepted value (inclusive).",
    "RowCount.min": "Fewest rows the table may have after the write.",
    "RowCount.max": "Most rows the table may have after the write.",
    "Relationship.column": "The column of the checked table.",
    "Relationship.to": "The table whose `field` must hold every value (the step runs after its writer).",
}

# Summaries for models without a docstring.
MODEL_NOTES: dict[str, str] = {
    "AssetSchedule": "Run the pipeline when tables change: an Airflow asset schedule.",
    "Defaults": "Retries and timeouts for every step of the pipeline.",
}

# What each model's validators (and the planner) enforce, in words.
RULES: dict[str, list[str]] = {
    "Pipeline": [
        "`pipeline` becomes the Airflow `dag_id`: it must be unique across the project's spec files.",
        "Step ids must be unique; `after` must name other steps of the same pipeline.",
        "A table has at most one writer per pipeline, and the step graph must have no cycle.",
        "A step's `profiles` limits it to those profiles of akko.yaml (e.g. a Spark transform on `cluster` beside "
        "its SQL twin on `local`); the DAG of a profile leaves the other steps out, and the rules above apply to "
        "each profile's steps.",
        "`schedule` is `manual` (no schedule), a 5-field cron expression, an Airflow preset "
        "(`@once`, `@continuous`, `@hourly`, `@daily`, `@weekly`, `@monthly`, `@quarterly`, `@yearly`, "
        "`@annually`), or an asset schedule `{on: [tables]}`.",
    ],
    "Defaults": ["A step's own `retries`, `retry_delay` and `timeout` override these."],
    "AssetSchedule": [
        "Each table is the Airflow asset `iceberg://<lakehouse>/<namespace>/<table>`; AKKO steps that write the "
        "table emit its asset events.",
    ],
    "IngestStep": [
        "`source.files` with a glob (`*`, `?`, `[`) fans out: `list_files` -> one mapped `load_file` per file -> "
        "`commit`, in a task group named after the step; all files land in one Iceberg commit.",
    ],
    "IngestSource": [
        "`format` only applies to `files`; without it the format comes from the extension "
        "(`.csv`, `.parquet`, `.json`, `.jsonl`, `.ndjson`).",
        "`files`: `raw/x/*.csv` is a key in the profile's object store, `./data/*.json` is relative to the "
        "project folder, `s3://...` or `file:///...` are used as given.",
    ],
    "HttpSource": [
        "Give exactly one of `url` or `conn_id`.",
        "A `url` must not hold credentials (`user:password@host`): keep them in an Airflow connection.",
        "The response must be a JSON list of objects, or hold one at the dotted path `records`.",
    ],
    "SqlStep": [
        "Give exactly one of `sql`, `file`, `queries`.",
        "`queries` are verification queries: they cannot have an `output`.",
        "SQL is Trino SQL. Tables are written `namespace.table` (or `iceberg.namespace.table`); other catalogs "
        "are refused: ingest their data first. Every table read makes this step run after the step writing it.",
    ],
    "PythonStep": [
        "Arguments are matched by parameter name: `inputs` (every input table, by name), `ctx` (the step "
        "context), one Arrow table per input's short name (`sales` for `demo.sales`), then `params`.",
        "With `output`, the function returns a pyarrow Table, a pandas or polars DataFrame, or a list of dicts.",
    ],
    "SparkStep": [
        "The script is a file relative to the spec; `akko validate` checks it compiles and defines `function`.",
        "Arguments are matched by parameter name: `spark` (the session), `inputs` (every input table, by name), "
        "`ctx`, one DataFrame per input's short name (`sales` for `demo.sales`), one per `sources` key, then "
        "`params`.",
        "Spark runs on the profile's `spark.remote`; on the embedded profile without one, AKKO starts a local "
        "Spark Connect server on the embedded catalog the first time (Java 17/21) and keeps it for later steps.",
        "A returned DataFrame is written by Spark itself (one Iceberg commit: create-as-select, append, "
        "overwrite, or MERGE INTO on `keys`); a function returning None must have committed to `output` itself.",
    ],
    "Check": [
        "Give exactly one check kind per item, plus optional `name` and `severity`.",
        "Check names (default: the kind and its columns, e.g. `unique_order_id`, `expression_3` for the third "
        "check) must be unique in a step.",
        "A step with `checks` writes its new snapshot to the Iceberg branch `akko_audit__<pipeline>__<step>`; "
        "`main` does not move. All checks run against that snapshot, every metric in one SQL statement where "
        "possible (custom `sql` checks run on their own), on the profile's SQL engine (DuckDB on `local`, Trino "
        "on `cluster`). If no `error` check fails, `main` is fast-forwarded to it atomically and the table's "
        "Airflow asset event follows; otherwise `main` is untouched, downstream steps and asset-triggered "
        "pipelines do not run, the task fails (without retry) with a report, and the branch stays for "
        "inspection until the next run or `akko tables --drop-audit`.",
        "`expression` and `sql` are Trino SQL, checked by `akko validate` like a step's SQL; in `sql`, name "
        "the step's own table to read the audited snapshot. Tables a check reads make the step wait for their "
        "writers.",
        "Results go to the task log, the step's XCom (`checks`), and the lakehouse table `akko.check_results` "
        "(`akko checks PIPELINE`).",
    ],
    "DbtStep": [
        "dbt Core 1.11: dbt-duckdb on the embedded profile, dbt-trino on `cluster`; AKKO generates the dbt "
        "profile (named like the project's `profile:`) from the active profile, never a profiles.yml with a "
        "secret. Model SQL is Trino SQL, checked by `akko validate` like a step's SQL.",
        "Every selected model and seed is one Iceberg table `<schema>.<alias>` (schema from dbt: the step's "
        "`namespace`, or the model's own with dbt's generate_schema_name) and one Airflow task of the step's task "
        "group, after a `compile` task; `table` and `view` models are rewritten, `incremental` ones appended "
        "or merged on `unique_key`, seeds loaded from their CSV; each in one Iceberg commit carrying the run.",
        "A model's dbt tests and its `models.<name>.checks` run on its new snapshot before it is published "
        "(write-audit-publish): a failing `error` test leaves the table unchanged and skips downstream models.",
        "`source()` and `ref()` of tables other steps write make this step wait for them. The task group is "
        "rendered from a graph `akko sync`/`akko validate` build with dbt and keep in the project's "
        "`target/akko/`; dbt never runs while Airflow parses the DAG.",
    ],
    "Output": [
        "Mode `merge` needs `keys`; `keys` only applies to `merge`.",
        "Each step run writes its table in exactly one atomic Iceberg commit (schema changes included).",
        "`partition_by` is applied when the step creates the table.",
    ],
}

# Step snippets shown in the reference; every one must validate (tests wrap them in `example_pipeline`).
EXAMPLES: dict[str, str] = {
    "ingest files (fan-out)": """\
- id: load_orders
  kind: ingest
  source:
    files: ./data/orders/*.json
  output:
    table: demo.orders
    mode: merge
    keys: [order_id]
    partition_by: [day(order_ts)]
""",
    "ingest an HTTP API": """\
- id: load_rates
  kind: ingest
  source:
    http:
      conn_id: rates_api
      endpoint: /v1/rates
      params: {base: EUR}
      records: data.rates
  output:
    table: finance.rates
    mode: overwrite
""",
    "ingest a SQL query": """\
- id: load_customers
  kind: ingest
  source:
    sql:
      conn_id: operational_db
      query: SELECT id, name, country FROM customers
  output:
    table: crm.customers
    mode: merge
    keys: [id]
""",
    "sql transform": """\
- id: revenue_by_region
  kind: sql
  sql: |
    SELECT region, sum(revenue) AS revenue
    FROM demo.sales
    GROUP BY region
  output:
    table: marts.revenue_by_region
    mode: overwrite
""",
    "sql verification queries": """\
- id: verify_sales
  kind: sql
  queries:
    row_count: SELECT count(*) AS n FROM demo.sales
    negative_revenue: SELECT * FROM demo.sales WHERE revenue < 0
""",
    "spark": """\
- id: transform_sales_spark
  kind: spark
  profiles: [cluster]
  script: transforms/sales_revenue.py
  function: add_revenue
  sources:
    raw_sales: {files: raw/sales/*.csv}
  output:
    table: demo.sales
    mode: overwrite
    partition_by: [region]
""",
    "checks (write-audit-publish)": """\
- id: transform_sales
  kind: sql
  sql: SELECT * FROM demo.raw_sales
  output:
    table: demo.sales
    mode: overwrite
  checks:
    - unique: [sale_id]
    - not_null: [sale_id, region]
    - accepted_values: {column: region, values: [EU, US, APAC]}
    - range: {column: quantity, min: 1, max: 1000}
    - row_count: {min: 1, max_shrink: 10%}
    - freshness: {column: sale_date, max_age: 2d}
      severity: warn
    - relationships: {column: product, to: demo.products, field: name}
    - expression: revenue = quantity * unit_price
    - sql: SELECT * FROM demo.sales WHERE sale_date > current_date
      name: no_future_sales
""",
    "python": """\
- id: summary
  kind: python
  function: demo_functions:summarize_sales
  inputs: [demo.sales]
  params:
    expected_rows: 12
""",
}


def example_pipeline(snippet: str) -> str:
    """A whole spec around one example step, so examples can be validated as written."""
    steps = "".join(f"  {line}\n" if line else "\n" for line in snippet.splitlines())
    return f"pipeline: example\nowner: docs\nteam: demo\nsteps:\n{steps}"


def render_reference() -> str:
    out = [
        "# Pipeline spec reference",
        "",
        f"<!-- Generated from src/akko_orchestrator/spec/models.py by `{REGENERATE}`. Do not edit. -->",
        "",
        "A pipeline spec is one YAML file under the project's `pipelines/` folder; it becomes one Airflow DAG. "
        "Unknown fields are errors (with a *did you mean*). `akko validate` checks every spec; `akko schema` "
        f"prints the JSON Schema (committed as `{SCHEMA_PATH}`) for editor completion; `akko new NAME` writes a "
        "spec that validates.",
        "",
        "## A complete spec",
        "",
        "```yaml",
        scaffold("daily_sales", "demo", "data-engineering").rstrip("\n"),
        "```",
        "",
    ]
    out += _step_kinds_section()
    out += _models_section()
    out += _formats_section()
    out += _checks_section()
    return "\n".join(out).rstrip("\n") + "\n"


def _step_kinds_section() -> list[str]:
    out = ["## Step kinds", "", "| `kind` | model | what it does |", "|---|---|---|"]
    for model in _step_models():
        kind = typing.get_args(model.model_fields["kind"].annotation)[0]
        out.append(f"| `{kind}` | [{model.__name__}](#{_anchor(model.__name__)}) | {_cell(_doc(model))} |")
    out += ["", "### Examples", ""]
    for title, snippet in EXAMPLES.items():
        out += [f"{title}:", "", "```yaml", snippet.rstrip("\n"), "```", ""]
    return out


def _models_section() -> list[str]:
    out = ["## Models", ""]
    common = _common_step_fields()
    for model in _reachable_models():
        out += [f"### {model.__name__}", "", _doc(model), ""]
        for rule in RULES.get(model.__name__, []):
            out.append(f"- {rule}")
        if model.__name__ in RULES:
            out.append("")
        fields = model.model_fields
        if model in _step_models():
            out += [f"Also every [step field](#{_anchor('Fields of every step')}).", ""]
            fields = {k: v for k, v in fields.items() if k not in common}
        out += _field_table(model, fields)
        if model is Pipeline:
            out += _common_fields_block(common)
    return out


def _common_fields_block(common: dict[str, FieldInfo]) -> list[str]:
    return ["### Fields of every step", "", *_field_table(_step_base(), common)]


def _field_table(model: type[BaseModel], fields: dict[str, FieldInfo]) -> list[str]:
    out = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in fields.items():
        row = (
            f"`{name}`",
            _type(info.annotation, info.metadata),
            _default(info),
            _description(model, name, info),
        )
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return [*out, ""]


def _formats_section() -> list[str]:
    out = ["## Value formats", "", "| format | meaning | examples | pattern |", "|---|---|---|---|"]
    for pattern, (name, meaning, examples) in FORMATS.items():
        out.append(f"| {name} | {_cell(meaning)} | {_cell(examples)} | `{_cell(pattern)}` |")
    return [*out, ""]


def _checks_section() -> list[str]:
    return [
        "## What `akko validate` checks",
        "",
        "Every problem is reported as `file:line:column: field: reason (how to fix it)`, all of them at once, "
        "and the same text is the Airflow import error of a broken spec (other pipelines still load).",
        "",
        "- YAML syntax, including duplicate keys.",
        "- Every field against the models above: unknown fields, missing required fields, types, formats.",
        "- Unique step ids; `after` naming existing steps; one writer per table; no dependency cycle.",
        "- `schedule`: a valid cron expression or Airflow preset.",
        "- SQL parses as Trino (positions inside inline SQL and `.sql` files are exact) and reads only "
        "`namespace.table` tables of the lakehouse; so do checks' `expression` and `sql`.",
        "- `checks` only on steps with an `output`, with distinct names.",
        "- `files` (ingest `source`, spark `sources`) read only inside the project folder, the profile's object "
        "store, or a folder or URI prefix listed in akko.yaml's `allowed_paths`, by real path (`..`, absolute "
        "paths, other URIs and symlinks out are refused; a glob by its base folder and the files it matches); "
        "a running step checks every file again before reading it.",
        "- Across files: unique pipeline ids, and every table read (SQL, `inputs`, `schedule.on`) is written "
        "by some pipeline or already exists (checked against the embedded catalog on the `embedded` engine).",
        "",
    ]


def _reachable_models() -> list[type[BaseModel]]:
    """Pipeline and every model its fields lead to, breadth first in field order."""
    found: list[type[BaseModel]] = [Pipeline]
    for model in found:
        for info in model.model_fields.values():
            for nested in _models_in(info.annotation):
                if nested not in found:
                    found.append(nested)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _step_models() -> list[type[BaseModel]]:
    return list(typing.get_args(typing.get_args(models.Step)[0]))


def _step_base() -> type[BaseModel]:
    """The model every step kind extends (StepBase): its fields are the fields of every step."""
    first, *others = _step_models()
    return next(c for c in first.__mro__[1:] if all(issubclass(m, c) for m in others))


def _common_step_fields() -> dict[str, FieldInfo]:
    return dict(_step_base().model_fields)


def _type(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        extra = [m for a in args[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])]
        return _type(args[0], [*metadata, *extra])
    if origin in (typing.Union, types.UnionType):
        members = [_type(a) for a in args if a is not type(None)]
        return _constrained(" or ".join(members), metadata)
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin is list:
        return _constrained(f"list of {_type(args[0])}", metadata)
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(annotation.__name__)})"
    return _constrained(_scalar(annotation, metadata), metadata)


def _scalar(annotation: Any, metadata: list[Any] | tuple[Any, ...]) -> str:
    pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
    if pattern in FORMATS:
        name = FORMATS[pattern][0]
        return f"[{name}](#{_anchor('Value formats')})"
    names = {str: "string", int: "integer", bool: "boolean", float: "number", dt.date: "date (YYYY-MM-DD)"}
    return names.get(
        annotation, "any value" if annotation is Any else getattr(annotation, "__name__", "value")
    )


def _constrained(text: str, metadata: list[Any] | tuple[Any, ...]) -> str:
    """Bounds in words; a named format already says how long its values may be."""
    named = any(getattr(m, "pattern", None) in FORMATS for m in metadata)
    notes = []
    for m in metadata:
        if isinstance(m, Ge):
            notes.append(f">= {m.ge}")
        elif isinstance(m, Le):
            notes.append(f"<= {m.le}")
        elif isinstance(m, MinLen) and not named:
            notes.append("not empty" if m.min_length == 1 else f"at least {m.min_length} long")
        elif isinstance(m, MaxLen) and not named:
            notes.append(f"at most {m.max_length} long")
    return f"{text} ({', '.join(notes)})" if notes else text


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "all defaults"
        return f"`{_yaml_value(value)}`"
    if info.default is None or info.default is PydanticUndefined:
        return "-"
    return f"`{_yaml_value(info.default)}`"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if value != "" else '""'


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    """The field's own description, else its FIELD_NOTES entry, else its type's (e.g. `Duration`'s)."""
    generic = {f.description for alias in (models.Duration, models.TableName) for f in _field_infos(alias)}
    if info.description and info.description not in generic:
        return info.description
    for cls in model.__mro__:
        note = FIELD_NOTES.get(f"{cls.__name__}.{name}")
        if note:
            return note
    nested = [
        m.description for a in typing.get_args(info.annotation) for m in _field_infos(a) if m.description
    ]
    if info.description or nested:
        return info.description or nested[0]
    raise ValueError(
        f"{model.__name__}.{name} has no description: give it Field(description=...) in spec/models.py "
        "or a FIELD_NOTES entry in spec/reference.py"
    )


def _field_infos(annotation: Any) -> list[FieldInfo]:
    if typing.get_origin(annotation) is typing.Annotated:
        return [a for a in typing.get_args(annotation)[1:] if isinstance(a, FieldInfo)]
    return []


def _doc(model: type[BaseModel]) -> str:
    own = model.__dict__.get("__doc__")  # not inherited: a model without a docstring gets MODEL_NOTES
    text = " ".join((own or "").split()) or MODEL_NOTES.get(model.__name__)
    if not text:
        raise ValueError(
            f"{model.__name__} has no docstring: add one, or a MODEL_NOTES entry in spec/reference.py"
        )
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def generated_files() -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    return {REFERENCE_PATH: render_reference(), SCHEMA_PATH: json_schema_text()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    root = Path(next((a for a in args if not a.startswith("--")), "."))
    stale = []
    for relative, text in generated_files().items():
        path = root / relative
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(relative))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run `{REGENERATE}`", file=sys.stderr)
        return 1
    print(
        f"{'wrote' if stale else 'up to date'}: {', '.join(stale) or ', '.join(map(str, generated_files()))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
