"""The prose of the spec reference (docs/spec-reference.md): named value formats, notes on fields and models,
the rules validators enforce, and one example per step kind. `reference.py` renders them with the models.

Kept apart from the rendering code: this is text a writer edits, that is code a reviewer reads.
"""

from __future__ import annotations

from akko_orchestrator.spec.models import DURATION, IDENT, PARTITION, PERCENT, TABLE, PythonStep

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
        "A cron expression must fire (`0 0 31 2 *` never does); an asset schedule must not name a table the "
        "pipeline writes itself (each run's write would start the next run).",
        "`profiles` (of the pipeline or a step) lists at least one profile: leave it out to run everywhere.",
        "`@continuous` runs one run at a time: `max_active_runs` stays 1.",
        "Every `conn_id` (sources, alert targets) is the name of an Airflow connection: a URI, a value with "
        "`@` or spaces, or one that looks like a token or key is refused (the connection holds the secret).",
        "A deadline's `within` is longer than zero.",
    ],
    "Defaults": [
        "A step's own `retries`, `retry_delay` and `timeout` override these.",
        "A `timeout` is at least `1s`: Airflow reads `0s` as no timeout at all. Leave `timeout` out for none.",
    ],
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
        "`files` relative to the project folder (`./data/*.csv`) must match a file when the spec is validated "
        "and parsed (object-store keys and URIs may appear later: not judged).",
    ],
    "HttpSource": [
        "Give exactly one of `url` or `conn_id`.",
        "A `url` must not hold credentials (`user:password@host`, a query parameter named like one such as "
        "`api_key` or `token`, a known service's token or a webhook in its path): keep them in an Airflow "
        "connection; `params` named like a credential are refused too (send it as a header from the "
        "connection's extra).",
        "The response must be a JSON list of objects, or hold one at the dotted path `records`.",
    ],
    "SqlStep": [
        "Give exactly one of `sql`, `file`, `queries`.",
        "`queries` are verification queries: they cannot have an `output`.",
        "SQL is Trino SQL. Tables are written `namespace.table` (or `iceberg.namespace.table`); other catalogs "
        "are refused: ingest their data first. Every table read makes this step run after the step writing it.",
        "What sqlglot and DuckDB accept but Trino's grammar refuses is refused on every profile, at its "
        "character, with the Trino way: a trailing comma (`SELECT a, b, FROM`), `LIMIT m, n`, `LIMIT n%`, "
        "`INTERVAL 1 DAY`, `IS TRUE`, `ISNULL`, `AS 'alias'`, `ORDER BY ALL`, `UNION BY NAME`, `AS "
        "MATERIALIZED`, `IN ()`, `IN [...]`, `JOIN` without ON or USING, `FROM t SELECT`, `SELECT * EXCLUDE`, "
        "`::`...",
        "`queries` holds at least one query.",
    ],
    "PythonStep": [
        "Arguments are matched by parameter name: `inputs` (every input table, by name), `ctx` (the step's API, "
        "below), one Arrow table per input's short name (`sales` for `demo.sales`), then `params`.",
        "With `output`, the function returns a pyarrow Table, a pandas or polars DataFrame, or a list of dicts: "
        "AKKO writes it after the function returned, with the step's checks, once per Airflow run (a retry never "
        "writes it twice).",
        "`ctx` offers `pipeline_id`, `step_id`, `run_id`, `try_number`, `map_index`, `team`, `params` (the run's "
        "`--conf`), `log`; `catalog` (read-only: `load_table(name).scan().to_arrow()`, `table_exists`, "
        "`list_tables`, `list_namespaces`, tables of the namespaces the team may read); `query(sql)` (one Trino "
        "SQL query of those tables, on the step's engine); `object_store` (`write_bytes`, `write_csv`, "
        "`read_bytes`, `exists`, `list`, `delete` by key, inside the team's `files` folders, never `_akko/`); "
        "`connection(conn_id)` and `allow_connection(conn_id)` (the team's Airflow connections).",
        "A step's code writes no table itself: while it runs, an Iceberg commit (through `ctx` or a catalog it "
        "opens) is refused, and the step fails without retry. The code runs in the worker's process: it is "
        "trusted code (docs/security.md).",
        "`akko validate` and the DAG processor find the module as the step imports it (akko.yaml's "
        "`python_path`, then installed packages) and parse it without importing it: a module found nowhere, a "
        "syntax error (at its line in the module), a missing function, an `async` function, `*args`, a "
        "positional-only parameter, or a required parameter nothing provides are refused.",
        "Input short names and `params` keys are distinct; `inputs` and `ctx` are reserved.",
    ],
    "SparkStep": [
        "The script is a file relative to the spec; `akko validate` checks it compiles and defines `function`, "
        "whose parameters AKKO can fill (as for `python` steps: no `async`, `*args` or positional-only "
        "parameter, every required one provided).",
        "Arguments are matched by parameter name: `spark` (the session), `inputs` (every input table, by name), "
        "`ctx` (the step's API, as for python steps), one DataFrame per input's short name (`sales` for "
        "`demo.sales`), one per `sources` key, then `params`.",
        "Spark runs on the profile's `spark.remote`; on the embedded profile without one, AKKO starts a local "
        "Spark Connect server on the embedded catalog the first time (Java 17/21) and keeps it for later steps.",
        "A returned DataFrame is written by Spark itself (one Iceberg commit: create-as-select, append, "
        "overwrite, or MERGE INTO on `keys`); a function returning None must have committed to `output` itself.",
        "While the function runs, the Spark session carries the run's identity: what it commits itself is "
        "recorded with pipeline, step, run and try, and a retry of a try that published runs nothing again. "
        "Such a commit is not staged: it is visible at once and has no checks (return a DataFrame for that).",
    ],
    "Check": [
        "Give exactly one check kind per item, plus optional `name` and `severity`.",
        "Arguments that cannot work are refused: `range` bounds of different kinds, or `min` above `max`, or "
        "not finite; `row_count.max_shrink` over 100%; `freshness.max_age` of zero; `accepted_values` mixing "
        "numbers, text and booleans.",
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
        "When the output's columns are known from the spec (a `sql` step's projection, `*` expanded from the "
        "known columns of the tables it reads; an ingest's `sql` query), every column a check names (also in "
        "an `expression`) must be one of them, and a relationship's `field` one of its `to` table's when this "
        "pipeline writes it; otherwise the run-time check names the check, the column and the table's columns.",
        "A table a check reads (a relationship's `to`, a table in `sql` or in an `expression`'s subquery) must "
        "be one the pipeline's team may read.",
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
        "A table a model names in its SQL itself (`from banking.accounts`, beside `ref()` and `source()`) is read "
        "like a source: the step waits for its writer, and the pipeline's team must be allowed to read it "
        "(refused in the model's file).",
        "`source()` and `ref()` of tables other steps write make this step wait for them. The task group is "
        "rendered from a graph `akko sync`/`akko validate` build with dbt and keep in the project's "
        "`target/akko/`; dbt never runs while Airflow parses the DAG.",
    ],
    "Output": [
        "Mode `merge` needs `keys`; `keys` only applies to `merge`.",
        "Each step run writes its table in exactly one atomic Iceberg commit (schema changes included).",
        "`partition_by` is applied when the step creates the table.",
        "A partition field is given once; `bucket(N, col)` and `truncate(N, col)` take N of at least 1.",
        "When the output's columns are known from the spec, `keys` and the columns of `partition_by` fields "
        "must be among them.",
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
