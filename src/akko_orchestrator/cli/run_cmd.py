"""`akko run` and `akko demo` (with `--bad-rows`, the quality gate shown): a pipeline through Airflow in this
process, its progress, its summary and, for the demo, the verification."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, err_console, handle_errors
from akko_orchestrator.cli.plans import (
    branch_head,
    describe_main,
    downstream,
    main_state,
    pipeline_plan,
    step_checks,
)
from akko_orchestrator.errors import AkkoError

DEMO_PIPELINE = "akko_e2e_pipeline"
DEMO_GATED_TABLE = "demo.sales"  # the demo table whose checks `akko demo --bad-rows` breaks


@app.command()
@handle_errors
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline id.")],
    conf: Annotated[str | None, typer.Option(help="Run configuration as JSON.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Airflow's task logs.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Run one pipeline through Airflow in this process, with per-step progress and a summary."""
    project_for(profile)
    report = run_pipeline_cli(pipeline, json.loads(conf) if conf else None, verbose)
    _exit_on_failure(report)


def run_pipeline_cli(pipeline: str, conf: dict[str, Any] | None, verbose: bool) -> Any:
    import datetime as dt

    from akko_orchestrator.cli.console import airflow_output_to
    from akko_orchestrator.cli.render import progress_line, run_summary
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    project = project_for()
    console.print(
        f"Running [bold]{pipeline}[/bold] on profile [bold]{project.profile_name}[/bold] through Airflow…"
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    log_file = None if verbose else project.state_dir / "logs" / f"{pipeline}-{stamp}.log"
    with airflow_output_to(log_file) as out:

        def progress(event: str, task_id: str, map_index: int, detail: str | None) -> None:
            line = progress_line(event, task_id, map_index, detail)
            if line:
                out.print(line, soft_wrap=True)

        report = run_pipeline(project, pipeline, progress, conf)
    console.print(run_summary(report))
    if report.state != "success" and log_file is not None:
        console.print(f"Airflow's log of this run: {log_file}")
    return report


def _exit_on_failure(report) -> None:

    failed = [t for t in report.failed if t.error] or report.failed
    if report.state != "success" or failed:
        for task in failed:
            err_console.print(
                f"[red]step {task.task_id} {task.state}[/red]: {task.error or 'see the task log'}",
                soft_wrap=True,
            )
        raise typer.Exit(1)


@app.command()
@handle_errors
def demo(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    bad_rows: Annotated[
        int | None,
        typer.Option(
            "--bad-rows",
            min=1,
            help="Land N rows that break demo.sales' checks and show the quality gate keep them out: the step "
            "fails on its checks, demo.sales' main is unchanged, the rows wait on an audit branch. Exit 0 if so.",
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Run AKKO's end-to-end demo (embedded lakehouse by default) through real Airflow; print the verification."""
    from akko_orchestrator.cli.render import rows_table

    project_for(profile)
    if bad_rows is not None:
        _demo_quality_gate(bad_rows, verbose)
        return
    report = run_pipeline_cli(DEMO_PIPELINE, None, verbose)
    _exit_on_failure(report)
    queries = (report.result_of("verify_sales") or {}).get("queries", {})
    for name, result in queries.items():
        console.print(rows_table(name.replace("_", " "), result["columns"], result["rows"]))
    summary = (report.result_of("summary") or {}).get("result", {})
    if summary:
        console.print(
            rows_table(
                "summary",
                list(summary),
                [[", ".join(v) if isinstance(v, list) else v for v in summary.values()]],
            )
        )


def _demo_quality_gate(bad_rows: int, verbose: bool) -> None:
    """`akko demo --bad-rows N`: run the demo with rows its checks must stop, then show that they did."""
    from rich.markup import escape

    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lakehouse.wap import audit_branch

    project = project_for()
    plan = pipeline_plan(project, DEMO_PIPELINE)
    gate = next((s for s in plan.steps if s.writes == DEMO_GATED_TABLE and step_checks(s)), None)
    if gate is None:
        raise AkkoError(f"{DEMO_PIPELINE} has no step with checks writing {DEMO_GATED_TABLE} on this profile")
    catalog = open_catalog(project)
    before = main_state(catalog, DEMO_GATED_TABLE)
    report = run_pipeline_cli(DEMO_PIPELINE, {"bad_rows": bad_rows}, verbose)
    after = main_state(catalog, DEMO_GATED_TABLE)

    # the gate's task (or, for a fanned-out ingest, the task of its group that wrote: `<step>.commit`)
    tasks = [t for t in report.tasks if t.task_id.split(".")[0] == gate.id]
    task = next((t for t in tasks if t.error), tasks[-1] if tasks else None)
    error = (task.error or "") if task is not None else ""
    failed_on_checks = task is not None and task.state == "failed" and "check(s) failed" in error
    console.print()
    console.print(
        f"[bold]Quality gate[/bold]: {bad_rows} bad row(s) landed; step {gate.id} writes {DEMO_GATED_TABLE}"
    )
    if failed_on_checks:
        console.print(f"[red]✗ {gate.id} failed on its checks[/red]:")
        console.print(escape(error), soft_wrap=True)
    else:
        state = task.state if task is not None else "did not run"
        console.print(f"[red]{gate.id} did not fail on its checks[/red] (state: {state}) {escape(error)}")

    # A table that did not exist gets an empty main snapshot (an audit branch is cut from main): still no row.
    unchanged = before == after or (before is None and after is not None and after[1] == 0)
    console.print(f"{DEMO_GATED_TABLE} main before: {describe_main(before)}")
    console.print(f"{DEMO_GATED_TABLE} main after:  {describe_main(after)}")
    if unchanged and before is None:
        console.print(f"[green]✓ no bad row reached {DEMO_GATED_TABLE}[/green]: it was created empty")
    elif unchanged:
        console.print(f"[green]✓ {DEMO_GATED_TABLE} unchanged[/green]: no bad row reached main")
    else:
        console.print(f"[red]✗ {DEMO_GATED_TABLE} changed[/red]")

    branch = audit_branch(DEMO_PIPELINE, gate.id)
    head = branch_head(catalog, DEMO_GATED_TABLE, branch)
    if head is not None:
        console.print(
            f"The rejected data waits on branch [bold]{branch}[/bold] (snapshot {head[0]}, {head[1]} rows): "
            f"`akko tables {DEMO_GATED_TABLE}`, "
            f"`akko query \"SELECT * FROM {DEMO_GATED_TABLE} WHERE region NOT IN ('EU', 'US', 'APAC')\" "
            f"--at {DEMO_GATED_TABLE}={branch}`; `akko tables --drop-audit {DEMO_GATED_TABLE}` removes it.",
            soft_wrap=True,  # commands stay whole, to be copied
        )
    after_gate = downstream(plan, gate.id)
    not_run = [t for t in report.tasks if t.task_id.split(".")[0] in after_gate]
    if not_run:
        states = ", ".join(f"{t.task_id} ({t.state})" for t in not_run)
        ran = [t for t in not_run if t.state == "success"]
        console.print(
            ("[red]downstream steps ran[/red]: " if ran else "Downstream steps did not run: ") + states
        )
    console.print(f"Latest results: `akko checks {DEMO_PIPELINE}`; `akko demo` publishes good data again.")
    if not (failed_on_checks and unchanged):
        raise typer.Exit(1)
