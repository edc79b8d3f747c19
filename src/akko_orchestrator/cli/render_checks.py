"""`akko checks` output: check results grouped by step run (a table, or on a narrow terminal each step run's
line with its checks below it), and a few failing rows of a check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType

from akko_orchestrator.cli.render import Col, listing, styled
from akko_orchestrator.cli.render_tables import query_view

if TYPE_CHECKING:
    from akko_orchestrator.quality.report import CheckReport

CHECK_STYLE = {"pass": "green", "fail": "red", "warn": "yellow"}
STATUS_ORDER = {"fail": 0, "warn": 1, "pass": 2}
COLS = {
    "step": Col("step", key=True, group=True),
    "table": Col("table", group=True),
    "check": Col("check", key=True),
    "severity": Col("severity", head=True),
    "status": Col("status", head=True),
    "failing rows": Col("failing rows", right=True),
    "observed": Col("observed", wrap=True),
    "expected": Col("expected", wrap=True),
    "run id": Col("run id", group=True),
    "when": Col("when", group=True),
}


def check_view(
    title: str, columns: Sequence[str], groups: Sequence[Sequence[dict[str, Any]]], width: int
) -> Group:
    """Check results, one section per group (a step run); each row maps column names to values. `status` is
    coloured; what a group shares (step, table, run id, when) is shown once."""
    cols = [COLS[c] for c in columns]
    cells = [[[_cell(column, row.get(column)) for column in columns] for row in group] for group in groups]
    return listing(title, cols, cells, width)


def _cell(column: str, value: Any) -> Any:
    if column == "status" and isinstance(value, str):
        return styled(value, CHECK_STYLE.get(value, ""))
    if column == "failing rows" and value is None:
        return ""
    return value


def status_order(row: dict[str, Any]) -> tuple[int, str]:
    """Sort key of history rows: failures first, then warnings, then by check name."""
    return STATUS_ORDER.get(row["status"], 3), row["check_name"]


def history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the check history (`akko.check_results`) as a `check_view` row."""
    return {
        "step": row["step"],
        "table": row["table_name"],
        "check": row["check_name"],
        "status": row["status"],
        "failing rows": row["failing_rows"],
        "observed": row["observed"],
        "expected": row["expected"],
        "run id": row["run_id"],
        "when": row["checked_at"].strftime("%Y-%m-%d %H:%M:%S UTC") if row["checked_at"] else None,
    }


def check_report_rows(report: CheckReport) -> list[dict[str, Any]]:
    """A `CheckReport`'s results as `check_view` rows."""
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


def sample_view(sample: dict[str, Any], width: int) -> RenderableType:
    """A few failing rows of a check (`table_preview`: columns, rows)."""
    return query_view("", [str(c) for c in sample.get("columns", [])], sample.get("rows", []), width)
