"""Rich renderings of run reports, query results and lakehouse listings."""

from __future__ import annotations

import re
from typing import Any

from rich.table import Table

from akko_orchestrator.local_airflow.inprocess import RunReport, TaskReport

STATE_STYLE = {"success": "green", "failed": "red", "upstream_failed": "yellow", "skipped": "dim"}


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


def _fmt(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
