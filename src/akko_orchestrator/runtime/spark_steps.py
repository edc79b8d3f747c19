"""`spark` steps: a PySpark script's function run against Spark Connect, its DataFrame written natively.

Where Spark runs: the profile's `spark.remote` (the cluster's Spark Connect), else, on the embedded profile, the
project's own local server started on demand (stack/local_spark.py). Iceberg inputs are read by Spark from the
catalog (`namespace.table` in Spark's default catalog, the lakehouse); `sources` are files of the object store or
JDBC tables read by Spark itself, so no data passes through this process either way.

The function gets `ctx` as a `StepApi` (runtime/step_api.py) and runs in the user-code scope; the Spark session it
gets is Spark's own, as powerful as the server's catalog credentials: what it commits itself is not staged (it
carries the run's identity, so a retry of a try that published writes nothing again). See docs/security.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from akko_orchestrator.config.paths import PathRule, local_files
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.guardrails.iceberg import user_code_scope
from akko_orchestrator.lakehouse.spark_session import stop_session
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.runtime.step_api import StepApi
from akko_orchestrator.runtime.transforms import match_arguments
from akko_orchestrator.spec.models import SparkSource, SparkStep
from akko_orchestrator.sql.build import render, select_all

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CONNECT_TIMEOUT = 10.0  # seconds to reach the Spark Connect port before the step fails naming it
# Iceberg's Spark session settings whose suffix becomes a snapshot summary property of every write in the session
SESSION_SNAPSHOT_PROPERTY = "spark.sql.iceberg.snapshot-property."


def run_spark(ctx: StepContext, planned: PlannedStep, spec_file: Path) -> WriteResult | dict[str, Any]:
    step = planned.step
    assert isinstance(step, SparkStep)
    previous = _published_earlier(ctx, step)
    if previous is not None:
        return previous
    with user_code_scope(f"{ctx.pipeline_id}.{ctx.step_id}"):
        function = load_function(spec_file.parent / step.script, step.function)
    check_sources(ctx, step)  # a refused path fails before a Spark server is started or reached
    remote = spark_remote(ctx)
    spark = connect(remote, ctx.project.profile_name)
    try:
        before, columns = _current(ctx, step)
        inputs = {table: spark.table(table) for table in step.inputs}
        sources = {name: read_source(spark, ctx, source) for name, source in step.sources.items()}
        available = {"spark": spark, "inputs": inputs, "ctx": StepApi(ctx), **sources}
        for table, frame in inputs.items():
            available[table.split(".", 1)[1]] = frame
        value = _call(
            ctx,
            spark,
            function,
            match_arguments(function, f"{step.script}:{step.function}", available, step.params),
        )
        return _finish(ctx, spark, step, value, before, columns)
    except Exception as exc:
        if type(exc).__module__.startswith("pyspark"):  # Spark's analysis/runtime errors carry a JVM trace
            raise AkkoError(
                f"Spark at {remote} (profile '{ctx.project.profile_name}'): {_summary(exc)}"
            ) from None
        raise
    finally:
        stop_session(spark)


def _published_earlier(ctx: StepContext, step: SparkStep) -> WriteResult | None:
    """An earlier try of this Airflow run published the output (AKKO's write, or the function's own commits, which
    carry the run's identity: `_call`): nothing runs or is written again, as `publish.guarded_write` does."""
    if step.output is None:
        return None
    from akko_orchestrator.runtime.publish import already_published

    previous = already_published(ctx, step.output)
    if previous is not None:
        output = step.output
        ctx.lineage.wrote(
            output.table, previous.snapshot_id, rows=previous.rows, mode=output.mode, already_published=True
        )
    return previous


def _call(ctx: StepContext, spark: SparkSession, function: Any, arguments: dict[str, Any]) -> Any:
    """The step's function, in the user-code scope (no pyiceberg commit in this process). Spark commits in its
    own server, out of that scope's sight: the session carries the run's identity meanwhile, so a table the
    function commits itself records pipeline, step, run and try, and a retry of a try that published is found by
    `_published_earlier`. Unset afterwards: AKKO's own writes set their snapshot properties per write."""
    keys = {f"{SESSION_SNAPSHOT_PROPERTY}{key}": value for key, value in ctx.snapshot_properties.items()}
    for key, value in keys.items():
        spark.conf.set(key, value)
    try:
        with user_code_scope(f"{ctx.pipeline_id}.{ctx.step_id}"):
            value = function(**arguments)
    except BaseException:
        with contextlib.suppress(Exception):  # a broken session must not hide the function's own error
            _unset(spark, keys)
        raise
    _unset(spark, keys)
    return value


def _unset(spark: SparkSession, keys: dict[str, str]) -> None:
    for key in keys:
        spark.conf.unset(key)


def _summary(exc: Exception) -> str:
    """The first line of Spark's message (the full JVM stack trace stays in the server's log)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def spark_remote(ctx: StepContext) -> str:
    settings = ctx.project.profile.spark
    if settings is not None:
        return settings.remote
    if ctx.project.profile.engine != "embedded":
        raise AkkoError(f"profile '{ctx.project.profile_name}' has no `spark.remote` for its Spark steps")
    from akko_orchestrator.stack.local_spark import ensure_local_spark

    log.info("starting (or reusing) this project's local Spark Connect server")
    return ensure_local_spark(ctx.project)


def connect(remote: str, profile: str) -> SparkSession:
    """A Spark Connect session; an endpoint that does not answer fails at once, naming it (the client would
    otherwise retry for minutes)."""
    parts = urlsplit(remote)
    host, port = parts.hostname or "localhost", parts.port or 15002
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise AkkoError(
            f"Spark Connect at {remote.split(';', 1)[0]} (profile '{profile}') is unreachable: "
            f"{exc.strerror or exc}"
        ) from None
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(remote).create()


def load_function(script: Path, name: str):
    """Import the script as a module of its own (scripts are files, not packages) and return the function."""
    module_name = f"akko_spark_{script.stem}"
    spec = importlib.util.spec_from_file_location(module_name, script)
    if spec is None or spec.loader is None:
        raise AkkoError(f"cannot load Spark script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    function = getattr(module, name, None)
    if not callable(function):
        raise AkkoError(f"{script} has no function '{name}'")
    return function


def check_sources(ctx: StepContext, step: SparkStep) -> None:
    """Every file source is inside what specs may read (config/paths.py): the path as written and, for local
    paths, each file Spark would read now (glob matches, folders' contents), by real path."""
    rule = PathRule.of(ctx.project, ctx.team)
    for source in step.sources.values():
        if source.files is not None:
            rule.enforce(step.id, source.files, local_files(rule.resolve(source.files)))


def read_source(spark: SparkSession, ctx: StepContext, source: SparkSource) -> DataFrame:
    if source.jdbc is not None:
        jdbc = source.jdbc
        ctx.allow_connection(jdbc.conn_id)
        read = jdbc.query or render(select_all(str(jdbc.table)), "postgres")
        ctx.lineage.sql_sources.append((jdbc.conn_id, read))
        return _read_jdbc(spark, ctx, source)
    fmt = source.file_format()
    path = ctx.object_store.resolve(str(source.files))
    ctx.lineage.files.append(path)
    # Spark reads the files itself: checked again right before it is handed the path.
    PathRule.of(ctx.project, ctx.team).enforce(ctx.step_id, str(source.files), local_files(path))
    if path.startswith("s3://"):
        path = "s3a://" + path.removeprefix("s3://")  # Hadoop's S3 filesystem, configured on the Spark server
    options = {"header": "true", "inferSchema": "true"} if fmt == "csv" else {}
    return spark.read.format(fmt).options(**{**options, **source.options}).load(path)


def _read_jdbc(spark: SparkSession, ctx: StepContext, source: SparkSource) -> DataFrame:
    jdbc = source.jdbc
    assert jdbc is not None
    conn = ctx.connection(jdbc.conn_id)  # the step's team's connections only
    if conn.conn_type not in ("postgres", "postgresql"):
        raise AkkoError(
            f"JDBC source '{jdbc.conn_id}': only PostgreSQL connections are supported, not {conn.conn_type}"
        )
    reader = (
        spark.read.format("jdbc")
        .option("url", f"jdbc:postgresql://{conn.host}:{conn.port or 5432}/{conn.schema}")
        .option("driver", "org.postgresql.Driver")
        .option("user", conn.login or "")
        .option("password", conn.password or "")
    )
    return (
        reader.option("query", jdbc.query).load()
        if jdbc.query
        else reader.option("dbtable", jdbc.table).load()
    )


def _finish(
    ctx: StepContext,
    spark: SparkSession,
    step: SparkStep,
    value: Any,
    before: int | None,
    columns: list[str] | None,
) -> WriteResult | dict[str, Any]:
    from akko_orchestrator.lakehouse.spark_writer import result_of, spark_write, spark_write_branch
    from akko_orchestrator.runtime.publish import guarded_write

    if step.output is None:
        if value is None:
            return {}
        if hasattr(value, "limit") and hasattr(value, "toArrow"):
            from akko_orchestrator.runtime.results import table_preview

            return {"result": table_preview(value.limit(20).toArrow())}
        return {"result": value}
    if value is None:  # the function wrote the table itself: it must have committed
        if step.checks:  # its commit is on main already: there is nothing left to audit before publishing
            raise AkkoError(
                f"{step.script}:{step.function} returned None (it wrote {step.output.table} itself), but the step "
                "has `checks`: checks run before the data is published, so the function must return a DataFrame "
                "for AKKO to write"
            )
        after, _ = _current(ctx, step)
        if after is None or after == before:
            raise AkkoError(
                f"{step.script}:{step.function} returned None and wrote nothing to {step.output.table}: return a "
                "DataFrame, or write the table yourself"
            )
        return result_of(ctx.catalog, step.output, created=before is None)
    if not (hasattr(value, "writeTo") and hasattr(value, "columns")):
        raise AkkoError(
            f"{step.script}:{step.function} returned {type(value).__name__}, not a Spark DataFrame (or None)"
        )
    output = step.output
    calls = 0

    def write(branch: str | None) -> WriteResult:
        # A replay (another writer moved main) re-runs the lazy DataFrame; the first try may have created or
        # evolved the table since `columns` was read.
        nonlocal calls
        calls += 1
        known = columns if calls == 1 else _current(ctx, step)[1]
        if branch is None:
            written = spark_write(spark, value, output, ctx.snapshot_properties, known)
            return result_of(ctx.catalog, output, created=written["created"])
        return spark_write_branch(spark, ctx.catalog, value, output, ctx.snapshot_properties, known, branch)

    return guarded_write(ctx, output, step.checks, write)


def _current(ctx: StepContext, step: SparkStep) -> tuple[int | None, list[str] | None]:
    """The output table's current snapshot id and columns, from the shared catalog (None, None: no table)."""
    from pyiceberg.exceptions import NoSuchTableError

    if step.output is None:
        return None, None
    try:
        table = ctx.catalog.load_table(step.output.table)
    except NoSuchTableError:
        return None, None
    snapshot = table.current_snapshot()
    return (snapshot.snapshot_id if snapshot else None), table.schema().column_names
