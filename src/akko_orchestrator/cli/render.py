"""Rich renderings of run reports, query results, check results and lakehouse listings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from akko_orchestrator.local_airflow.inprocess import RunReport, TaskReport

if TYPE_CHECKING:
    from akko_orchestrator.lakehouse.inspect import BranchInfo
    from akko_orchestrator.quality.report import CheckReport

STATE_STYLE = {"success": "green", "failed": "red", "upstream_failed": "yellow", "skipped": "dim"}
CHECK_STYLE = {"pass": "green", "fail": "red", "warn": "yellow"}
GROUP_COLUMNS = {"step", "table", "run id", "when"}


def progress_line(event: str, task_id: str, map_index: int, detail: str | None) -> str | None:
    name = f"{task_id}[{map_index}]" if map_index >= 0 else task_id
    if event == "running":
        return f"[dim]▶ {name}[/dim]"
    if event == "success":
        return f"[green]✓[/green] {name}"
    if event == "failed":
        first = (detail or "").strip().splitlines()[0] if (detail or "").strip() else detail
        return f"[red]✗ {name}[/red]: {first}"
    return None


def run_summary(report: RunReport) -> Table:
    table = Table(title=f"{report.dag_id} · {report.state} in {report.duration:.1f}s", title_justify="left")
    for column in ("step", "state", "duration", "table", "rows written", "checks"):
        table.add_column(column, justify="right" if column in ("duration", "rows written") else "left")
    for task in report.tasks:
        table.add_row(*_task_row(task))
    return table


def _task_row(task: TaskReport) -> list[str]:
    name = f"{task.task_id}[{task.map_index}]" if task.map_index >= 0 else task.task_id
    style = STATE_STYLE.get(task.state, "")
    result = task.result if isinstance(task.result, dict) else {}
    duration = f"{task.duration:.2f}s" if task.duration is not None else "-"
    return [
        name,
        f"[{style}]{task.state}[/{style}]" if style else task.state,
        duration,
        str(result.get("table", "")),
        str(result.get("rows", "")) if "rows" in result and "table" in result else "",
        _checks_cell(result, task.error),
    ]


def _checks_cell(result: dict[str, Any], error: str | None) -> str:
    """`5 passed`, `4 passed, 1 warn`, or for a step blocked by its checks `2 failed`."""
    checks = result.get("checks")
    if isinstance(checks, dict):
        parts = [f"{checks.get('passed', 0)} passed"]
        if checks.get("warned"):
            parts.append(f"[yellow]{len(checks['warned'])} warn[/yellow]")
        return ", ".join(parts)
    match = re.match(r"(\d+) check\(s\) failed", error or "")
    return f"[red]{match.group(1)} failed[/red]" if match else ""


def rows_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    return table


def check_table(title: str, columns: Sequence[str], groups: Sequence[Sequence[dict[str, Any]]]) -> Table:
    """Check results, one section per group (a step run); each row maps column names to values. `status` is
    coloured (pass green, fail red, warn yellow); what a group shares (step, table, run id, when) is shown once."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column == "failing rows" else "left",
            overflow="fold" if column == "run id" else "ellipsis",  # a run id is read whole, not cut
        )
    for group in groups:
        for index, row in enumerate(group):
            cells = [
                "" if index and column in GROUP_COLUMNS else _check_cell(column, row.get(column))
                for column in columns
            ]
            table.add_row(*cells, end_section=index == len(group) - 1)
    return table


def check_report_rows(report: CheckReport) -> list[dict[str, Any]]:
    """A `CheckReport`'s results as `check_table` rows."""
    return [
        {
            "check": r.name,
            "severity": r.severity,
            "status": r.status,
            "failing rows": r.failing_rows,
            "observed": r.observed,
            "expected": r.expected,
            "sample": r.sample,
        }
        for r in report.results
    ]


def sample_table(sample: dict[str, Any]) -> Table:
    """A few failing rows of a check (`table_preview`: columns, rows)."""
    return rows_table("", [str(c) for c in sample.get("columns", [])], sample.get("rows", []))


def branches_table(title: str, branches: Sequence[BranchInfo]) -> Table:
    rows = [
        [
            b.name,
            f"audit {b.kind}" if b.audit else b.kind,
            b.snapshot_id,
            b.committed,
            b.rows,
            b.written_by,
            b.run_id or "-",
        ]
        for b in branches
    ]
    return rows_table(
        title, ["ref", "type", "head snapshot", "committed", "rows", "written by", "run id"], rows
    )


def _check_cell(column: str, value: Any) -> str:
    if column == "status" and isinstance(value, str):
        style = CHECK_STYLE.get(value, "")
        return f"[{style}]{value}[/{style}]" if style else escape(value)
    if value is None:
        return "" if column == "failing rows" else "-"
    return escape(str(value))


def _fmt(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return escape(str(value))  # data, never markup: a value like "[red]" or "[/x]" is printed as is
