"""A dbt model on the `cluster` profile: Trino computes it and writes its data files; AKKO commits them.

The compiled SELECT goes to Trino as `INSERT INTO <stage> SELECT ...`, where the stage is an Iceberg table AKKO
registers for this write with the model's table's own metadata (schema with its field ids, partition spec) and a
location inside the model table's folder. The data never passes through this worker. Then one pyiceberg commit
adds the stage's files to the model's table, on its audit branch (dbt tests and checks run there, on Trino) or on
`main`, with the run identity in the snapshot (lakehouse/staged.py), and the stage's metadata is dropped (not its
files, which the table now holds).

Why not dbt-trino's own materializations: they commit to `main` directly, Trino 476 neither writes to an Iceberg
branch nor records snapshot properties, so neither the quality gate before publication nor exactly-once per run
would hold. dbt-trino compiles the models (with Trino introspection); Trino does the compute and the writes.
An incremental `merge` reads only the new rows (the stage) into the worker, for pyiceberg's merge.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.runtime.publish import guarded_write, write_arrow
from akko_orchestrator.spec.models import Check, Output
from akko_orchestrator.sql.build import column, identifier, literal, render, star, subquery

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table
    from sqlglot import exp

STAGE_SUFFIX = "__akko_stage_"


def write_on_trino(
    ctx: StepContext, output: Output, sql: str, tables: list[str], checks: list[Check]
) -> WriteResult:
    from akko_orchestrator.lakehouse.staged import commit_files

    schema = result_schema(ctx, sql, tables)
    target = _target(ctx, output, schema)
    stage_name, stage = _register_stage(ctx, target, output, schema)
    try:
        rows = _insert(ctx, stage_name, schema.names, sql, tables)
        stage = ctx.catalog.load_table(stage_name)
        if output.mode == "merge":  # pyiceberg merges Arrow: only the new rows come here
            return write_arrow(ctx, output, checks, stage.scan().to_arrow())
        files = [task.file.file_path for task in stage.scan().plan_files()]
        log.info(
            "%s: Trino wrote %d row(s) in %d file(s) for %s", ctx.step_id, rows, len(files), output.table
        )
        return guarded_write(
            ctx,
            output,
            checks,
            lambda branch: commit_files(
                ctx.catalog, output, files, rows, schema, ctx.snapshot_properties, branch
            ),
        )
    finally:
        ctx.catalog.drop_table(stage_name)  # its metadata only: the files belong to the model's table now


def result_schema(ctx: StepContext, sql: str, tables: list[str]) -> pa.Schema:
    """The Arrow schema of the query's result, as Trino types it (no row is computed)."""
    from sqlglot import exp

    tree = exp.Select(expressions=[star()]).from_(_model(sql), copy=False).limit(literal(0), copy=False)
    return ctx.sql_engine.query(render(tree), tables).schema


def stage_insert_sql(stage_name: str, columns: list[str], sql: str) -> str:
    """`INSERT INTO iceberg."ns"."stage" ("a", ...) SELECT "a", ... FROM (<the model's query>) AS akko_model`: the
    model's compiled query embedded as a parsed subquery, the stage and its columns quoted identifiers."""
    from sqlglot import exp

    from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG

    namespace, name = stage_name.split(".", 1)
    stage = exp.Table(
        this=identifier(name), db=identifier(namespace), catalog=identifier(LAKEHOUSE_SQL_CATALOG)
    )
    rows = exp.Select(expressions=[column(c) for c in columns]).from_(_model(sql), copy=False)
    insert = exp.Insert(
        this=exp.Schema(this=stage, expressions=[identifier(c) for c in columns]), expression=rows
    )
    return render(insert)


def _model(sql: str) -> exp.Subquery:
    """The model's compiled SQL as `(<query>) AS akko_model`: parsed as exactly one Trino query."""
    from akko_orchestrator.sql.parse import query

    return subquery(query(sql, "the dbt model's compiled SQL"), "akko_model")


def _target(ctx: StepContext, output: Output, schema: pa.Schema) -> Table:
    """The model's table, created empty (with its partitioning) on its first write."""
    from pyiceberg.exceptions import TableAlreadyExistsError

    from akko_orchestrator.lakehouse.writer import create_empty

    if not ctx.catalog.table_exists(output.table):
        with contextlib.suppress(TableAlreadyExistsError):  # another writer created it first
            create_empty(ctx.catalog, output, schema, ctx.snapshot_properties)
    return ctx.catalog.load_table(output.table)


def _register_stage(ctx: StepContext, target: Table, output: Output, schema: pa.Schema) -> tuple[str, Table]:
    """A table with the target's schema (its field ids), spec and sort order, no snapshot, located in a folder of
    the target's: Trino's files for it carry the target's field ids and sit where the target keeps its data."""
    from pyiceberg.serializers import ToOutputFile

    from akko_orchestrator.lakehouse.schema_evolution import align

    token = uuid.uuid4().hex[:12]
    namespace, name = output.table.split(".", 1)
    stage_name = f"{namespace}.{name}{STAGE_SUFFIX}{token}"
    location = f"{target.location().rstrip('/')}/data/akko-stage-{token}"
    metadata = target.metadata.model_copy(
        update={
            "location": location,
            "table_uuid": uuid.uuid4(),
            "current_snapshot_id": None,
            "snapshots": [],
            "snapshot_log": [],
            "metadata_log": [],
            "refs": {},
            "statistics": [],
            "partition_statistics": [],
        }
    )
    metadata_file = f"{location}/metadata/00000-{token}.metadata.json"
    ToOutputFile.table_metadata(metadata, target.io.new_output(metadata_file))
    stage = ctx.catalog.register_table(stage_name, metadata_file)
    aligned = align(output.table, stage.schema().as_arrow(), schema.empty_table())
    if aligned.evolve:  # the same new columns, with the same new ids, as the commit gives the target
        with stage.update_schema() as update:
            update.union_by_name(aligned.data.schema)
        stage = ctx.catalog.load_table(stage_name)
    return stage_name, stage


def _insert(ctx: StepContext, stage_name: str, columns: list[str], sql: str, tables: list[str]) -> int:
    result = ctx.sql_engine.query(stage_insert_sql(stage_name, columns, sql), tables)
    if result.num_rows != 1 or result.num_columns != 1:
        raise AkkoError(f"Trino's INSERT into {stage_name} did not report its row count")
    return int(result.column(0)[0].as_py())
