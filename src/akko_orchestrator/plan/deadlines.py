"""A spec's `deadline` entries checked against its pipeline: a table deadline names a table the pipeline writes
(on any profile), and no deadline is given twice (each becomes one Airflow deadline alert, named after it)."""

from __future__ import annotations

import difflib

from akko_orchestrator.errors import SpecIssue
from akko_orchestrator.plan.dbt_steps import DbtGraph
from akko_orchestrator.spec.alerts import deadlines_of
from akko_orchestrator.spec.models import Pipeline
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc


def deadline_issues(pipeline: Pipeline, source: SpecSource, graphs: dict[str, DbtGraph]) -> list[SpecIssue]:
    """Located problems of the pipeline's deadlines; `graphs`: the dbt steps' graphs (their tables)."""
    written = tables_written(pipeline, graphs)
    issues: list[SpecIssue] = []
    seen: dict[str, tuple[str | int, ...]] = {}
    for loc, deadline in deadlines_of(pipeline.deadline):
        table = deadline.table
        if table is not None and table not in written:
            close = difflib.get_close_matches(table, sorted(written), n=1)
            hint = (
                f"did you mean `{close[0]}`?" if close else f"tables it writes: {', '.join(sorted(written))}"
            )
            reason = (
                f"table {table} is not written by this pipeline: a table deadline is met by publishing it"
            )
            issues.append(source.issue((*loc, "table"), reason, hint))
        first = seen.setdefault(deadline.describe(), loc)
        if first != loc:
            reason = f"the same deadline as {format_loc(first)} ({deadline.describe()})"
            issues.append(source.issue(loc, reason, "remove one"))
    return issues


def tables_written(pipeline: Pipeline, graphs: dict[str, DbtGraph]) -> set[str]:
    """By every step, whatever its profile (a deadline names a table of the pipeline on any profile)."""
    written: set[str] = set()
    for step in pipeline.steps:
        output = getattr(step, "output", None)
        written.update(graphs[step.id].tables if step.id in graphs else [output.table] if output else [])
    return written
