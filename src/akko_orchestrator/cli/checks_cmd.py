"""`akko checks`: the recorded results of a pipeline's quality checks, or (`--rerun`) its checks run again on the
tables' current data."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, err_console, handle_errors
from akko_orchestrator.cli.plans import branch_head, main_state, pipeline_plan, step_checks
from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


CHECK_COLUMNS = ["step", "table", "check", "status", "failing rows", "observed", "expected", "run id", "when"]
STATUS_ORDER = {"fail": 0, "warn": 1, "pass": 2}


@app.command()
@handle_errors
def checks(
    pipeline: Annotated[str, typer.Argument(help="Pipeline id.")],
    all_runs: Annotated[
        bool, typer.Option("--all", help="Every recorded run, newest first (the last --limit runs).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="With --all: how many runs to show.")] = 10,
    rerun: Annotated[
        bool,
        typer.Option(
            "--rerun",
            help="Run every step's checks again on the current data (main) of its table. Writes nothing and "
            "is not recorded in the check history. Exit 1 if an error check fails.",
        ),
    ] = False,
    profile: ProfileOption = None,
) -> None:
    """Show the latest recorded check results of each step of a pipeline (--all: every run; --rerun: check the
    tables' current data again)."""
    if rerun and all_runs:
        raise AkkoError("--rerun checks the current data; --all shows recorded runs: choose one")
    project = project_for(profile)
    if rerun:
        _rerun_checks(project, pipeline)
    else:
        _show_check_history(project, pipeline, all_runs, limit)


def _show_check_history(project: Project, pipeline: str, all_runs: bool, limit: int) -> None:
    from akko_orchestrator.cli.render import check_table
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.quality.history import read_history

    catalog = open_catalog(project)
    history = read_history(catalog, pipeline)
    if history is None or history.num_rows == 0:
        pipeline_plan(project, pipeline)  # an unknown pipeline id is an error, not "nothing recorded"
        console.print(
            f"No check results recorded for {pipeline} yet: steps with `checks:` record them when they run "
            f"(`akko run {pipeline}`)."
        )
        return
    step_runs = _step_runs(history.to_pylist())
    if all_runs:
        position = {run: i for i, run in enumerate(dict.fromkeys(g[0]["run_id"] for g in step_runs))}
        runs = len(position)  # position 0: the newest run
        groups = [g for g in step_runs if position[g[0]["run_id"]] < limit]
        # runs newest first; the steps of one run in the order they ran
        groups.sort(key=lambda g: (position[g[0]["run_id"]], g[0]["checked_at"]))
        title = f"{pipeline} · check results of the last {min(limit, runs)} of {runs} run(s)"
    else:
        latest: dict[str, list[dict[str, Any]]] = {}
        for group in step_runs:
            latest.setdefault(group[0]["step"], group)
        groups = sorted(latest.values(), key=lambda g: g[0]["checked_at"])  # in the order the steps ran
        title = f"{pipeline} · latest check results of each step"
    console.print(check_table(title, CHECK_COLUMNS, [[_history_row(r) for r in g] for g in groups]))
    counts = {status: sum(r["status"] == status for g in groups for r in g) for status in STATUS_ORDER}
    console.print(
        f"{counts['pass']} passed, [red]{counts['fail']} failed[/red], [yellow]{counts['warn']} warn[/yellow]"
        if counts["fail"] or counts["warn"]
        else f"[green]{counts['pass']} passed[/green]"
    )
    if all_runs:
        if runs > limit:
            console.print(f"{runs - limit} older run(s) not shown (--limit).")
        return
    _print_samples_and_branches(catalog, pipeline, groups)


def _step_runs(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """History rows (newest first) grouped by step run, newest first; failures first within a run."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["step"], row["run_id"]), []).append(row)
    return [
        sorted(group, key=lambda r: (STATUS_ORDER.get(r["status"], 3), r["check_name"]))
        for group in groups.values()
    ]


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
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


def _print_samples_and_branches(catalog: Catalog, pipeline: str, groups: list[list[dict[str, Any]]]) -> None:
    """Under the latest results: sample rows of what did not pass, and where rejected data waits."""
    from akko_orchestrator.cli.render import sample_table
    from akko_orchestrator.lakehouse.wap import audit_branch

    for group in groups:
        for row in group:
            if row["status"] != "pass" and row["sample"]:
                sample = json.loads(row["sample"])
                if sample.get("rows"):
                    console.print(f"sample of {row['step']} / {row['check_name']}:")
                    console.print(sample_table(sample))
        if not any(r["status"] == "fail" for r in group):
            continue
        step, table_name = group[0]["step"], group[0]["table_name"]
        branch = audit_branch(pipeline, step)
        if branch_head(catalog, table_name, branch) is not None:
            console.print(
                f"{step}: its rejected data waits on branch {branch} of {table_name}; main was not changed "
                f"(`akko tables {table_name}`).",
                soft_wrap=True,
            )


def _rerun_checks(project: Project, pipeline: str) -> None:
    from akko_orchestrator.cli.render import check_report_rows, check_table, sample_table
    from akko_orchestrator.quality.runner import run_checks
    from akko_orchestrator.runtime.context import StepContext

    plan = pipeline_plan(project, pipeline)
    checked = [s for s in plan.steps if s.writes and step_checks(s)]
    if not checked:
        console.print(f"{pipeline} has no step with `checks:` on profile {project.profile_name}.")
        return
    ctx = StepContext(project, pipeline, step_id="checks")
    reports = 0
    failed: list[str] = []
    try:
        for planned in checked:
            table_name = planned.writes
            assert table_name is not None
            main = main_state(ctx.catalog, table_name)
            if main is None:
                console.print(f"{planned.id}: {table_name} not written yet")
                continue
            # Current data, no previous row count (relative row_count rules pass): nothing is written or recorded.
            report = run_checks(
                ctx.sql_engine,
                table_name,
                step_checks(planned),
                snapshot_id=None,
                previous_rows=None,
                catalog=ctx.catalog,
            )
            title = f"{planned.id} · {table_name} (main, snapshot {main[0]}, {main[1]} rows)"
            columns = ["check", "severity", "status", "failing rows", "observed", "expected"]
            rows = check_report_rows(report)
            console.print(check_table(title, columns, [rows]))
            for row in rows:
                if row["status"] != "pass" and row["sample"] and row["sample"].get("rows"):
                    console.print(f"sample of {planned.id} / {row['check']}:")
                    console.print(sample_table(row["sample"]))
            reports += 1
            if not report.passed:
                failed.append(f"{planned.id} ({', '.join(r.name for r in report.blocking)})")
    finally:
        ctx.close()
    console.print("Re-run on current data; not recorded in the check history.")
    if not reports:
        console.print("No table checked: none is written yet.")
        return
    if failed:
        err_console.print(f"[red]error checks failed[/red]: {'; '.join(failed)}", soft_wrap=True)
        raise typer.Exit(1)
    console.print("[green]every error check passes on the current data[/green]")
