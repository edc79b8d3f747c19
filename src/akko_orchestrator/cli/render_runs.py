"""`akko run` and `akko demo` output: progress lines, the run's summary (a table, or one line per step on a
narrow terminal) and the run report as plain data for --json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text

from akko_orchestrator.cli.render import Col, command_lines, hanging, rows_listing, styled
from akko_orchestrator.sql.build import column, literal, render, select_all

if TYPE_CHECKING:
    from akko_orchestrator.local_airflow.inprocess import RunReport, TaskReport

STATE_STYLE = {"success": "green", "failed": "red", "upstream_failed": "yellow", "skipped": "dim"}
RUN_COLS = (
    Col("step", key=True),
    Col("state", head=True),
    Col("duration", head=True, right=True),
    Col("table"),
    Col("rows written", right=True),
    Col("checks"),
)


def step_name(task: TaskReport) -> str:
    return f"{task.task_id}[{task.map_index}]" if task.map_index >= 0 else task.task_id


def progress_line(event: str, task_id: str, map_index: int, detail: str | None, width: int) -> Text | None:
    name = f"{task_id}[{map_index}]" if map_index >= 0 else task_id
    if event == "running":
        return Text(f"▶ {name}", style="dim")
    if event == "success":
        return Text.assemble(("✓", "green"), f" {name}")
    if event == "failed":
        first = (detail or "").strip().splitlines()[0] if (detail or "").strip() else (detail or "")
        return hanging(f"✗ {name}:", first, width, style="red")
    return None


def run_summary(report: RunReport, width: int) -> Group:
    title = f"{report.dag_id} · {report.state} in {report.duration:.1f}s"
    return rows_listing(title, RUN_COLS, [_task_row(task) for task in report.tasks], width)


def _task_row(task: TaskReport) -> list[Any]:
    style = STATE_STYLE.get(task.state, "")
    result = task.result if isinstance(task.result, dict) else {}
    written = "table" in result and "rows" in result
    return [
        step_name(task),
        styled(task.state, style),
        f"{task.duration:.2f}s" if task.duration is not None else "-",
        str(result.get("table", "")),
        _rows_cell(result) if written else "",
        _checks_cell(result, task.error),
    ]


def _rows_cell(result: dict[str, Any]) -> str:
    """`12`; for a file ingest the rows read and set aside too: `9 of 12 read, 3 rejected`."""
    counts = result.get("ingest")
    if not isinstance(counts, dict):
        return str(result["rows"])
    rejected = counts.get("rows_rejected") or 0
    return f"{result['rows']} of {counts.get('rows_read')} read" + (
        f", {rejected} rejected" if rejected else ""
    )


def _checks_cell(result: dict[str, Any], error: str | None) -> Text:
    """`5 passed`, `4 passed, 1 warn`, or for a step blocked by its checks `2 failed`."""
    counts = checks_of(result, error)
    if counts is None:
        return Text("")
    if counts["failed"]:
        return styled(f"{counts['failed']} failed", "red")
    text = Text(f"{counts['passed']} passed")
    if counts["warned"]:
        text.append(", ")
        text.append(f"{len(counts['warned'])} warn", style="yellow")
    return text


def checks_of(result: dict[str, Any], error: str | None) -> dict[str, Any] | None:
    """A step's checks: `passed` (count), `warned` (names) and `failed` (count; a failed step's count comes
    from its error, its result being gone); None for a step without checks."""
    checks = result.get("checks")
    if isinstance(checks, dict):
        return {
            "passed": checks.get("passed", 0),
            "warned": list(checks.get("warned", [])),
            "failed": len(checks.get("failed", [])),
        }
    match = re.match(r"(\d+) check\(s\) failed", error or "")
    return {"passed": None, "warned": [], "failed": int(match.group(1))} if match else None


def run_json(report: RunReport, log_file: Path | None) -> dict[str, Any]:
    """The report for --json: the run, then one entry per task (a mapped task once per map index)."""
    return {
        "pipeline": report.dag_id,
        "run_id": report.run_id,
        "state": report.state,
        "duration_s": round(report.duration, 3),
        "log_file": str(log_file) if log_file is not None and report.state != "success" else None,
        "steps": [_task_json(task) for task in report.tasks],
    }


def _task_json(task: TaskReport) -> dict[str, Any]:
    result = task.result if isinstance(task.result, dict) else {}
    return {
        "step": task.task_id,
        "map_index": task.map_index if task.map_index >= 0 else None,
        "state": task.state,
        "duration_s": round(task.duration, 3) if task.duration is not None else None,
        "table": result.get("table"),
        "rows_written": result.get("rows") if "table" in result else None,
        **_ingest_json(result),
        "checks": checks_of(result, task.error),
        "error": task.error,
        "result": task.result,
    }


def _ingest_json(result: dict[str, Any]) -> dict[str, Any]:
    counts = result.get("ingest")
    if not isinstance(counts, dict):
        return {}
    return {
        "rows_read": counts.get("rows_read"),
        "rows_rejected": counts.get("rows_rejected"),
        "rejects_table": counts.get("rejects_table"),
    }


def print_gate(facts: dict[str, Any], checks: list[dict[str, Any]], width: int) -> None:
    """`akko demo --bad-rows`: what the quality gate did (`facts` as `_demo_quality_gate` gathers them, the
    gate step's recorded `checks`)."""
    from akko_orchestrator.cli.console import console

    for part in gate_lines(facts, checks, width):
        console.print(part, soft_wrap=isinstance(part, str))


def gate_lines(facts: dict[str, Any], checks: list[dict[str, Any]], width: int) -> list[RenderableType]:
    from akko_orchestrator.cli.render_checks import check_view, history_row, sample_view

    step, table = facts["step"], facts["table"]
    lines: list[RenderableType] = [
        Text(""),
        Text.assemble(
            ("Quality gate", "bold"), f": {facts['bad_rows']} bad row(s) landed; step {step} writes {table}"
        ),
    ]
    if facts["failed_on_checks"]:
        # the error's first line names the checks; its task-log table is the one below, laid out for `width`
        summary = (facts["error"] or "").splitlines()[0]
        lines += [styled(f"✗ {step} failed on its checks:", "red"), Text(summary)]
        columns = ["check", "status", "failing rows", "observed", "expected"]
        lines.append(check_view(f"checks of {step}", columns, [[history_row(r) for r in checks]], width))
        for row in (r for r in checks if r["status"] != "pass" and r["sample"]):
            sample = json.loads(row["sample"])
            if sample.get("rows"):
                lines += [Text(f"sample of {row['check_name']}:"), sample_view(sample, width)]
    else:
        lines.append(
            Text.assemble(
                (f"{step} did not fail on its checks", "red"),
                f" (state: {facts['step_state'] or 'did not run'}) {facts['error'] or ''}",
            )
        )
    lines += [
        Text(f"{table} main before: {_describe(facts['main_before'])}"),
        Text(f"{table} main after:  {_describe(facts['main_after'])}"),
    ]
    if facts["main_unchanged"] and facts["main_before"] is None:
        lines.append(Text.assemble((f"✓ no bad row reached {table}", "green"), ": it was created empty"))
    elif facts["main_unchanged"]:
        lines.append(Text.assemble((f"✓ {table} unchanged", "green"), ": no bad row reached main"))
    else:
        lines.append(styled(f"✗ {table} changed", "red"))
    branch = facts["audit_branch"]
    if branch is not None:
        ref = branch["ref"]
        query = render(select_all(table).where(_outside_regions(), copy=False))
        lines += [
            Text.assemble(
                "The rejected data waits on branch ",
                (ref, "bold"),
                f" (snapshot {branch['snapshot_id']}, {branch['rows']} rows). See it, query it, remove it:",
            ),
            command_lines(["akko", "tables", table], width),
            command_lines(["akko", "query", query, "--at", f"{table}={ref}"], width),
            command_lines(["akko", "tables", "--drop-audit", table], width),
        ]
    if facts["downstream"]:
        states = ", ".join(f"{d['step']} ({d['state']})" for d in facts["downstream"])
        ran = any(d["state"] == "success" for d in facts["downstream"])
        lines.append(
            Text.assemble(("downstream steps ran", "red"), ": " + states)
            if ran
            else Text("Downstream steps did not run: " + states)
        )
    lines.append(
        Text(f"Latest results: `akko checks {facts['pipeline']}`; `akko demo` publishes good data again.")
    )
    return lines


def _describe(state: dict[str, int] | None) -> str:
    return "no table" if state is None else f"snapshot {state['snapshot_id']}, {state['rows']} rows"


def _outside_regions() -> Any:  # -> exp.Expression
    """`region NOT IN ('EU', 'US', 'APAC')`: the rows the demo's checks rejected."""
    from sqlglot import exp

    return exp.Not(this=exp.In(this=column("region"), expressions=[literal(r) for r in ("EU", "US", "APAC")]))
