"""One model (or seed) task of a dbt step: its result becomes its Iceberg table in one guarded write.

- A model's SQL is what this run's `compile` task compiled (Trino SQL, written for both profiles): it runs on the
  profile's engine (DuckDB with Trino's semantics on `local`, Trino on `cluster`), through the same allow-list as
  every spec SQL on `local`.
- `table` and `view` models are rewritten (a view becomes a table: every model is a lakehouse table with
  snapshots, checks and lineage); an `incremental` model appends its new rows, or merges them on its
  `unique_key` (strategies `merge` and `delete+insert`), and is rewritten on its first run or `full_refresh`.
- A seed is its CSV, read as dbt reads seeds (agate's type inference, the seed's `column_types`), the same on
  both profiles.
- The model's dbt tests (their compiled SQL: the failing rows) and its AKKO `checks` run on the new snapshot on
  its audit branch before it is published (runtime/publish.py): a failing `error` test keeps `main`, and the task
  fails, so downstream models do not run. The write carries the run identity under the step id
  `<step>.<model>`: a retried or re-run task of a run that published writes nothing again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akko_orchestrator.dbt.graph import DbtGraph, DbtNode
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.runtime.publish import already_published, write_arrow
from akko_orchestrator.spec.models import Check, DbtStep, Output

if TYPE_CHECKING:
    import pyarrow as pa

STRATEGIES = {None: "merge", "merge": "merge", "delete+insert": "merge", "append": "append"}


def run_node(ctx: StepContext, step: DbtStep, graph: DbtGraph, node: DbtNode, folder: Path) -> WriteResult:
    from akko_orchestrator.dbt.compile import read_compiled

    options = step.models.get(node.name)
    extra_checks = list(options.checks) if options else []
    partition_by = list(options.partition_by) if options else []
    needs_compile = node.resource_type == "model" or bool(node.tests)  # a seed's tests are compiled too
    compiled = read_compiled(ctx, step.id) if needs_compile else {"nodes": {}, "tests": {}}
    output = _output(node, compiled["nodes"].get(node.unique_id), partition_by)
    previous = already_published(ctx, output)
    if previous is not None:
        return previous
    checks = [*test_checks(node, compiled["tests"]), *extra_checks]
    if node.resource_type == "model" and ctx.project.profile.engine != "embedded":
        return _model_on_trino(ctx, node, compiled["nodes"], output, checks)
    data = _seed(folder, node) if node.resource_type == "seed" else _model(ctx, node, compiled["nodes"])
    log.info("%s: %d row(s) for %s (%s)", ctx.step_id, data.num_rows, node.table, output.mode)
    return write_arrow(ctx, output, checks, data)


def _output(node: DbtNode, entry: dict[str, Any] | None, partition_by: list[str]) -> Output:
    if node.materialized != "incremental" or not (entry or {}).get("incremental"):
        return Output(table=node.table, mode="overwrite", partition_by=partition_by)
    strategy = STRATEGIES.get(node.incremental_strategy)
    if strategy is None:
        raise AkkoError(
            f"model {node.name} ({node.file}): incremental_strategy '{node.incremental_strategy}' is not "
            f"supported: use append, merge or delete+insert"
        )
    if strategy == "merge" and node.unique_key:
        return Output(table=node.table, mode="merge", keys=list(node.unique_key), partition_by=partition_by)
    return Output(table=node.table, mode="append", partition_by=partition_by)


def _compiled_sql(
    node: DbtNode, compiled: dict[str, Any], ctx: StepContext | None = None
) -> tuple[str, list[str]]:
    from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, tables_read

    entry = compiled.get(node.unique_id)
    if entry is None:
        raise AkkoError(f"model {node.name} ({node.file}) was not compiled by this run's `compile` task")
    sql = entry["sql"]
    if ctx is not None:
        ctx.lineage.query(sql, produces=node.table)  # its column lineage, in the model's OpenLineage
    try:
        refs = tables_read(sql)
    except AkkoError as exc:
        raise AkkoError(f"model {node.name} ({node.file}): {exc}") from None
    tables = [ref.qualified for ref in refs if ref.catalog in ("", LAKEHOUSE_SQL_CATALOG)]
    if ctx is not None:  # its lineage inputs: what its SQL reads, not the tables only its tests read
        ctx.lineage.inputs = list(tables)
    return sql, tables


def _model(ctx: StepContext, node: DbtNode, compiled: dict[str, Any]) -> pa.Table:
    """The embedded profile: DuckDB answers the model's Trino SQL as Trino would; pyiceberg writes it."""
    sql, tables = _compiled_sql(node, compiled, ctx)
    try:
        return ctx.sql_engine.query(sql, tables)
    except AkkoError as exc:
        raise AkkoError(f"model {node.name} ({node.file}): {exc}") from None


def _model_on_trino(
    ctx: StepContext, node: DbtNode, compiled: dict[str, Any], output: Output, checks: list[Check]
) -> WriteResult:
    """The cluster profile: Trino computes the model and writes its files (dbt/trino_models.py)."""
    from akko_orchestrator.dbt.trino_models import write_on_trino
    from akko_orchestrator.quality.report import ChecksFailed

    sql, tables = _compiled_sql(node, compiled, ctx)
    try:
        return write_on_trino(ctx, output, sql, tables, checks)
    except ChecksFailed:
        raise
    except AkkoError as exc:
        raise AkkoError(f"model {node.name} ({node.file}): {exc}") from None


def test_checks(node: DbtNode, compiled_tests: dict[str, str]) -> list[Check]:
    """The node's dbt tests as `sql` checks: a test passes when its compiled query returns no row."""
    checks = []
    for test in node.tests:
        sql = compiled_tests.get(test.unique_id)
        if sql is None:
            continue  # a test dbt did not select with its model (e.g. excluded): it gates nothing
        checks.append(Check(name=check_name(test.name), sql=sql.strip(), severity=_severity(test.severity)))
    return checks


def check_name(test_name: str) -> str:
    """A dbt test's name as an AKKO check name (lower case letters, digits, underscores; at most 100)."""
    name = re.sub(r"[^a-z0-9_]", "_", test_name.lower())
    if not name[:1].isalpha():
        name = f"test_{name}"
    return name[:100]


def _severity(severity: str) -> str:
    return "warn" if severity.lower() == "warn" else "error"


def _seed(folder: Path, node: DbtNode) -> pa.Table:
    from akko_orchestrator.dbt.seeds import read_seed

    return read_seed(folder, node)
