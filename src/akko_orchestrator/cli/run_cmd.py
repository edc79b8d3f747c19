"""`akko run` and `akko demo` (with `--bad-rows`, the quality gate shown): a pipeline through Airflow in this
process, its progress, its summary and, for the demo, the verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, err_console, handle_errors
from akko_orchestrator.cli.output import JsonOption, messages, print_json
from akko_orchestrator.cli.plans import branch_head, downstream, main_state, pipeline_plan, step_checks
from akko_orchestrator.cli.render import hanging
from akko_orchestrator.cli.render_runs import print_gate, progress_line, run_json, run_summary
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from akko_orchestrator.local_airflow.inprocess import RunReport

DEMO_PIPELINE = "akko_e2e_pipeline"
DEMO_GATED_TABLE = "demo.sales"  # the demo table whose checks `akko demo --bad-rows` breaks


@app.command()
@handle_errors
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline id.")],
    conf: Annotated[str | None, typer.Option(help="Run configuration as JSON.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Airflow's task logs.")] = False,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Run one pipeline through Airflow in this process, with per-step progress and a summary."""
    project_for(profile)
    report, log_file = run_pipeline_cli(pipeline, json.loads(conf) if conf else None, verbose, as_json)
    if as_json:
        print_json(run_json(report, log_file))
    _exit_on_failure(report)


def run_pipeline_cli(
    pipeline: str, conf: dict[str, Any] | None, verbose: bool, as_json: bool = False
) -> tuple[RunReport, Path | None]:
    """Run `pipeline` with progress lines (on stderr with --json), print its summary unless --json."""
    import datetime as dt

    from akko_orchestrator.cli.console import airflow_output_to
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    project = project_for()
    out = messages(as_json)
    out.print(
        f"Running [bold]{pipeline}[/bold] on profile [bold]{project.profile_name}[/bold] through Airflow…"
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    log_file = None if verbose else project.state_dir / "logs" / f"{pipeline}-{stamp}.log"
    with airflow_output_to(log_file, to_stderr=as_json) as progress_out:

        def progress(event: str, task_id: str, map_index: int, detail: str | None) -> None:
            line = progress_line(event, task_id, map_index, detail, progress_out.width)
            if line is not None:
                progress_out.print(line, soft_wrap=True)

        report = run_pipeline(project, pipeline, progress, conf)
    if not as_json:
        console.print(run_summary(report, console.width))
    if report.state != "success" and log_file is not None:
        out.print(f"Airflow's log of this run: {log_file}")
    return report, log_file


def _exit_on_failure(report: RunReport) -> None:
    """Each failed step's error: its first line wrapped to the width under the step's name, the lines after it
    (a check report, a traceback's end) as they are, preformatted."""
    failed = [t for t in report.failed if t.error] or report.failed
    if report.state != "success" or failed:
        for task in failed:
            head = f"step {task.task_id} {task.state}"
            first, _, rest = (task.error or "see the task log").partition("\n")
            err_console.print(hanging(f"{head}:", first, err_console.width, style="red"), soft_wrap=True)
            if rest:
                err_console.print(Text(rest), soft_wrap=True)
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
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Run AKKO's end-to-end demo (embedded lakehouse by default) through real Airflow; print the verification."""
    from akko_orchestrator.cli.render_tables import query_view

    project_for(profile)
    if bad_rows is not None:
        _demo_quality_gate(bad_rows, verbose, as_json)
        return
    report, log_file = run_pipeline_cli(DEMO_PIPELINE, None, verbose, as_json)
    queries = (report.result_of("verify_sales") or {}).get("queries", {})
    summary = (report.result_of("summary") or {}).get("result", {})
    if as_json:
        verification = {name: {"columns": q["columns"], "rows": q["rows"]} for name, q in queries.items()}
        print_json({**run_json(report, log_file), "verification": verification, "summary": summary})
    _exit_on_failure(report)
    if as_json:
        return
    for name, result in queries.items():
        console.print(query_view(name.replace("_", " "), result["columns"], result["rows"], console.width))
    if summary:
        values = [[", ".join(v) if isinstance(v, list) else v for v in summary.values()]]
        console.print(query_view("summary", list(summary), values, console.width))


def _demo_quality_gate(bad_rows: int, verbose: bool, as_json: bool) -> None:
    """`akko demo --bad-rows N`: run the demo with rows its checks must stop, then show that they did."""
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lakehouse.wap import audit_branch

    project = project_for()
    plan = pipeline_plan(project, DEMO_PIPELINE)
    gate = next((s for s in plan.steps if s.writes == DEMO_GATED_TABLE and step_checks(s)), None)
    if gate is None:
        raise AkkoError(f"{DEMO_PIPELINE} has no step with checks writing {DEMO_GATED_TABLE} on this profile")
    catalog = open_catalog(project)
    before = main_state(catalog, DEMO_GATED_TABLE)
    report, log_file = run_pipeline_cli(DEMO_PIPELINE, {"bad_rows": bad_rows}, verbose, as_json)
    after = main_state(catalog, DEMO_GATED_TABLE)

    # the gate's task (or, for a fanned-out ingest, the task of its group that wrote: `<step>.commit`)
    tasks = [t for t in report.tasks if t.task_id.split(".")[0] == gate.id]
    task = next((t for t in tasks if t.error), tasks[-1] if tasks else None)
    error = (task.error or "") if task is not None else ""
    branch = audit_branch(DEMO_PIPELINE, gate.id)
    head = branch_head(catalog, DEMO_GATED_TABLE, branch)
    after_gate = downstream(plan, gate.id)
    facts = {
        "pipeline": DEMO_PIPELINE,
        "step": gate.id,
        "table": DEMO_GATED_TABLE,
        "bad_rows": bad_rows,
        "step_state": task.state if task is not None else None,
        "failed_on_checks": task is not None and task.state == "failed" and "check(s) failed" in error,
        "error": error or None,
        "main_before": _state_json(before),
        "main_after": _state_json(after),
        # A table that did not exist gets an empty main snapshot (an audit branch is cut from main): no row.
        "main_unchanged": before == after or (before is None and after is not None and after[1] == 0),
        "audit_branch": {"ref": branch, "snapshot_id": head[0], "rows": head[1]} if head else None,
        "downstream": [
            {"step": t.task_id, "state": t.state}
            for t in report.tasks
            if t.task_id.split(".")[0] in after_gate
        ],
    }
    facts["ok"] = facts["failed_on_checks"] and facts["main_unchanged"]
    if as_json:
        print_json({**run_json(report, log_file), "gate": facts})
    else:
        print_gate(facts, _gate_checks(catalog, report.run_id, gate.id), console.width)
    if not facts["ok"]:
        raise typer.Exit(1)


def _gate_checks(catalog: Any, run_id: str, step: str) -> list[dict[str, Any]]:
    """The gate step's check results of this run, as recorded in the check history (`akko checks` shows the
    same), failures first."""
    from akko_orchestrator.cli.render_checks import status_order
    from akko_orchestrator.quality.history import read_history

    history = read_history(catalog, DEMO_PIPELINE)
    rows = history.to_pylist() if history is not None else []
    return sorted((r for r in rows if r["run_id"] == run_id and r["step"] == step), key=status_order)


def _state_json(state: tuple[int, int] | None) -> dict[str, int] | None:
    return None if state is None else {"snapshot_id": state[0], "rows": state[1]}
