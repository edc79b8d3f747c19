"""SQL and Python steps."""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import pyarrow as pa

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.guardrails.iceberg import user_code_scope
from akko_orchestrator.lakehouse.arrow_io import to_arrow
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.runtime.publish import write_arrow
from akko_orchestrator.runtime.results import format_text, json_safe, table_preview
from akko_orchestrator.runtime.step_api import StepApi
from akko_orchestrator.spec.models import PythonStep, SqlStep


def run_sql(ctx: StepContext, planned: PlannedStep, sql_text: dict[str, str]) -> WriteResult | dict[str, Any]:
    """`sql_text`: the query (key "sql") or the named verification queries, already read from files."""
    step = planned.step
    assert isinstance(step, SqlStep)
    _check_sql_reads(ctx, sql_text)
    if step.output is None:
        results = {}
        for name, sql in sql_text.items():
            ctx.lineage.query(sql)
            table = ctx.sql_engine.query(sql, list(planned.reads))
            results[name] = table_preview(table)
            log.info("%s.%s (%d rows):\n%s", step.id, name, table.num_rows, format_text(table))
        return {"queries": results}
    ctx.lineage.query(sql_text["sql"], produces=step.output.table)
    data = ctx.sql_engine.query(sql_text["sql"], list(planned.reads))
    return write_arrow(ctx, step.output, step.checks, data)


def _check_sql_reads(ctx: StepContext, sql_text: dict[str, str]) -> None:
    """The tables the SQL about to run reads (a .sql file may have changed since the DAG was parsed), against the
    step's team, before the engine sees it (Trino reads tables without AKKO's catalog)."""
    if ctx.guard is None:
        return
    from akko_orchestrator.plan.sql_refs import tables_read

    for sql in sql_text.values():
        for ref in tables_read(sql):
            if ref.namespace:
                ctx.guard.check_read(ref.qualified)


def run_python(ctx: StepContext, planned: PlannedStep) -> WriteResult | dict[str, Any]:
    """The step's function gets its inputs as Arrow and `ctx` as a `StepApi` (never this StepContext); its module's
    import and the call run in the user-code scope (no Iceberg commit at all), and what it returns for `output` is
    written afterwards by AKKO's writer: staged, checked, published once per run."""
    step = planned.step
    assert isinstance(step, PythonStep)
    inputs = {name: ctx.catalog.load_table(name).scan().to_arrow() for name in step.inputs}
    api = StepApi(ctx)
    with user_code_scope(f"{ctx.pipeline_id}.{ctx.step_id}"):
        function = import_function(ctx, step.function)
        value = function(**_arguments(function, step, inputs, api))
        data = to_arrow(value, step.function) if step.output is not None and value is not None else None
    if step.output is not None:
        if data is None:
            raise AkkoError(
                f"{step.function} returned None but the step has an output table {step.output.table}"
            )
        return write_arrow(ctx, step.output, step.checks, data)
    if isinstance(value, pa.Table):
        return {"result": table_preview(value)}
    return {"result": json_safe(value)} if value is not None else {}


def import_function(ctx: StepContext, reference: str):
    module_name, _, attr = reference.partition(":")
    for path in reversed(ctx.project.python_paths):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        paths = ", ".join(str(p) for p in ctx.project.python_paths)
        raise AkkoError(
            f"cannot import module '{module_name}' for {reference}: {exc} (python_path: {paths})"
        ) from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise AkkoError(f"{reference}: module '{module_name}' has no function '{attr}'")
    return function


def _arguments(function, step: PythonStep, inputs: dict[str, pa.Table], ctx: StepApi) -> dict[str, Any]:
    """Match parameters by name: `inputs` (dict of tables), `ctx`, one table per input's short name, then params."""
    available: dict[str, Any] = {"inputs": inputs, "ctx": ctx}
    for name, table in inputs.items():
        available.setdefault(name.split(".", 1)[1], table)
    return match_arguments(function, step.function, available, step.params)


def match_arguments(
    function, reference: str, available: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments `function` asks for, by parameter name, from `available` then `params`; a
    `**kwargs` parameter also receives the remaining params. A required one that nothing provides is an error."""
    available = {**params, **available}
    signature = inspect.signature(function)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    arguments = {}
    for name, parameter in signature.parameters.items():
        if name in available:
            arguments[name] = available[name]
        elif parameter.default is inspect.Parameter.empty and parameter.kind is not parameter.VAR_KEYWORD:
            known = ", ".join(sorted(available))
            raise AkkoError(
                f"{reference} needs argument '{name}', which nothing provides (available: {known})"
            )
    if accepts_any:
        arguments.update({k: v for k, v in params.items() if k not in arguments})
    return arguments
