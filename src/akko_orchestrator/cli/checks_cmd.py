"""`akko checks`: the recorded results of a pipeline's quality checks, or (`--rerun`) its checks run again on the
tables' current data."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, err_console, handle_errors
from akko_orchestrator.cli.output import JsonOption, messages, print_json
from akko_orchestrator.cli.plans import branch_head, main_state, pipeline_plan, step_checks
from akko_orchestrator.cli.render_checks import status_order
from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


CHECK_COLUMNS = ["step", "table", "check", "status", "failing rows", "observed", "expected", "run id", "when"]


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
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Show the latest recorded check results of each step of a pipeline (--all: every run; --rerun: check the
    tables' current data again)."""
    if rerun and all_runs:
        raise AkkoError("--rerun checks the current data; --all shows recorded runs: choose one")
    project = project_for(profile)
    if rerun:
        _rerun_checks(project, pipeline, as_json)
    else:
        _show_check_history(project, pipeline, all_runs, limit, as_json)


def _show_check_history(project: Project, pipeline: str, all_runs: bool, limit: int, as_json: bool) -> None:
    from akko_orchestrator.cli.render_checks import check_view, history_row
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.quality.history import read_history

    catalog = open_catalog(project)
    history = read_history(catalog, pipeline)
    if history is None or history.num_rows == 0:
        pipeline_plan(project, pipeline)  # an unknown pipeline id is an error, not "nothing recorded"
        messages(as_json).print(
            f"No check results recorded for {pipeline} yet: steps with `checks:` record them when they run "
            f"(`akko run {pipeline}`)."
        )
        if as_json:
            print_json(_history_json(pipeline, all_runs, 0, []))
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
    if as_json:
        print_json(_history_json(pipeline, all_runs, runs if all_runs else None, groups))
        return
    console.print(
        check_view(title, CHECK_COLUMNS, [[history_row(r) for r in g] for g in groups], console.width)
    )
    counts = _counts(groups)
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


def _counts(groups: list[list[dict[str, Any]]]) -> dict[str, int]:
    return {
        status: sum(r["status"] == status for g in groups for r in g) for status in ("pass", "fail", "warn")
    }


def _history_json(
    pipeline: str, all_runs: bool, runs: int | None, groups: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    """--json of the history: one entry per check of each step run shown, with its sample rows."""
    results = [
        {
            "step": row["step"],
            "table": row["table_name"],
            "run_id": row["run_id"],
            "checked_at": row["checked_at"],
            "snapshot_id": row["snapshot_id"],
            "check": row["check_name"],
            "severity": row["severity"],
            "status": row["status"],
            "failing_rows": row["failing_rows"],
            "observed": row["observed"],
            "expected": row["expected"],
            "sample": json.loads(row["sample"]) if row["sample"] else None,
        }
        for group in groups
        for row in group
    ]
    return {
        "pipeline": pipeline,
        "mode": "all" if all_runs else "latest",
        "runs_recorded": runs,
        "results": results,
        "counts": _counts(groups),
    }


def _step_runs(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """History rows (newest first) grouped by step run, newest first; failures first within a run."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["step"], row["run_id"]), []).append(row)
    return [sorted(group, key=status_order) for group in groups.values()]


def _print_samples_and_branches(catalog: Catalog, pipeline: str, groups: list[list[dict[str, Any]]]) -> None:
    """Under the latest results: sample rows of what did not pass, and where rejected data waits."""
    from akko_orchestrator.cli.render_checks import sample_view
    from akko_orchestrator.lakehouse.wap import audit_branch

    for group in groups:
        for row in group:
            if row["status"] != "pass" and row["sample"]:
                sample = json.loads(row["sample"])
                if sample.get("rows"):
                    console.print(f"sample of {row['step']} / {row['check_name']}:")
                    console.print(sample_view(sample, console.width))
        if not any(r["status"] == "fail" for r in group):
            continue
        step, table_name = group[0]["step"], group[0]["table_name"]
        branch = audit_branch(pipeline, step)
        if branch_head(catalog, table_name, branch) is not None:
            console.print(
                f"{step}: its rejected data waits on branch {branch} of {table_name}; main was not changed "
                f"(`akko tables {table_name}`)."
            )


def _rerun_checks(project: Project, pipeline: str, as_json: bool) -> None:
    from akko_orchestrator.runtime.context import StepContext

    out = messages(as_json)
    plan = pipeline_plan(project, pipeline)
    checked = [s for s in plan.steps if s.writes and step_checks(s)]
    if not checked:
        out.print(f"{pipeline} has no step with `checks:` on profile {project.profile_name}.")
        if as_json:
            print_json({"pipeline": pipeline, "mode": "rerun", "tables": []})
        return
    ctx = StepContext(project, pipeline, step_id="checks")
    try:
        entries = [entry for planned in checked if (entry := _rerun_step(ctx, planned, out)) is not None]
    finally:
        ctx.close()
    failed = [
        f"{e['step']} ({', '.join(r.name for r in e['report'].blocking)})"
        for e in entries
        if not e["report"].passed
    ]
    if as_json:
        print_json({"pipeline": pipeline, "mode": "rerun", "tables": [_rerun_json(e) for e in entries]})
    else:
        for entry in entries:
            _print_rerun(entry)
    out.print("Re-run on current data; not recorded in the check history.")
    if not entries:
        out.print("No table checked: none is written yet.")
        return
    if failed:
        err_console.print(f"[red]error checks failed[/red]: {'; '.join(failed)}")
        raise typer.Exit(1)
    out.print("[green]every error check passes on the current data[/green]")


def _rerun_step(ctx: Any, planned: Any, out: Any) -> dict[str, Any] | None:
    """A step's checks run on its table's main now; None if the table is not written yet."""
    from akko_orchestrator.quality.runner import run_checks

    table_name = planned.writes
    main = main_state(ctx.catalog, table_name)
    if main is None:
        out.print(f"{planned.id}: {table_name} not written yet")
        return None
    # Current data, no previous row count (relative row_count rules pass): nothing is written or recorded.
    report = run_checks(
        ctx.sql_engine,
        table_name,
        step_checks(planned),
        snapshot_id=None,
        previous_rows=None,
        catalog=ctx.catalog,
    )
    return {
        "step": planned.id,
        "table": table_name,
        "snapshot_id": main[0],
        "rows": main[1],
        "report": report,
    }


def _rerun_json(entry: dict[str, Any]) -> dict[str, Any]:
    report = entry["report"]
    return {
        **{key: entry[key] for key in ("step", "table", "snapshot_id", "rows")},
        "passed": report.passed,
        "results": [r.as_dict() for r in report.results],
    }


def _print_rerun(entry: dict[str, Any]) -> None:
    from akko_orchestrator.cli.render_checks import check_report_rows, check_view, sample_view

    step = entry["step"]
    title = f"{step} · {entry['table']} (main, snapshot {entry['snapshot_id']}, {entry['rows']} rows)"
    columns = ["check", "severity", "status", "failing rows", "observed", "expected"]
    rows = check_report_rows(entry["report"])
    console.print(check_view(title, columns, [rows], console.width))
    for row in rows:
        if row["status"] != "pass" and row["sample"] and row["sample"].get("rows"):
            console.print(f"sample of {step} / {row['check']}:")
            console.print(sample_view(row["sample"], console.width))
