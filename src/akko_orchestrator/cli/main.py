"""`akko` commands. Each builds a `Project` and calls one library function; nothing here knows Airflow internals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from akko_orchestrator.cli.console import DEBUG, console, err_console, handle_errors
from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.errors import AkkoError, SpecError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.plan.builder import Plan

app = typer.Typer(
    help="AKKO Orchestrator: declarative lakehouse pipelines on Apache Airflow 3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
DEMO_PIPELINE = "akko_e2e_pipeline"
DEMO_GATED_TABLE = "demo.sales"  # the demo table whose checks `akko demo --bad-rows` breaks
_options: dict[str, Any] = {"project": None, "profile": None}


def _mount_subcommands() -> None:
    from akko_orchestrator.cli.stack_cmd import stack_app

    app.add_typer(
        stack_app, name="stack", help="Start, stop and inspect the cluster engines on this machine."
    )


@app.callback()
def _global(
    project: Annotated[Path | None, typer.Option(help="Project folder (default: nearest akko.yaml).")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Profile from akko.yaml (default: AKKO_PROFILE or `profile`).")
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    _options.update(project=project, profile=profile)
    DEBUG["enabled"] = debug


def current_project() -> Project:
    """The project selected by the global options (--project, --profile)."""
    return load_project(_options["project"], _options["profile"])


# `akko run X --profile cluster` and `akko --profile cluster run X` both work.
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="Profile from akko.yaml (default: AKKO_PROFILE or `profile`).")
]


def _project(profile: str | None = None) -> Project:
    if profile is not None:
        _options["profile"] = profile
    return current_project()


@app.command()
@handle_errors
def validate(
    path: Annotated[
        Path | None, typer.Argument(help="Spec file or folder (default: the project's pipelines).")
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Check every spec: schema, unknown fields, ids, cycles, tables, cron, SQL. Exit 1 on any error."""
    from rich.markup import escape

    from akko_orchestrator.spec.validate import validate_path

    project = _project(profile)
    target = (path or project.pipelines_dir).resolve()
    if not target.exists():
        raise AkkoError(f"{target} does not exist")
    report = validate_path(
        target,
        project.root,
        _table_exists_checker(project),
        profile=project.profile_name,
        known_profiles=project.config.profiles,
        engine=project.profile.engine,
    )
    for issue in report.issues:
        err_console.print(f"[red]error[/red] {escape(issue.format())}", soft_wrap=True)
    for valid_file in report.valid_files:
        console.print(f"[green]valid[/green] {escape(valid_file)}", soft_wrap=True)
    console.print(f"{len(report.valid_files)} of {len(report.files)} spec file(s) valid.")
    if not report.ok:
        raise typer.Exit(1)


def _table_exists_checker(project: Project):  # -> Callable[[str], bool] | None
    """Only the embedded catalog is checked by `validate` (reaching a cluster catalog is not a lint's job)."""
    if project.profile.engine != "embedded":
        return None
    if not (project.state_dir / "catalog.db").exists():
        return lambda table: False
    from akko_orchestrator.lakehouse.catalog import open_catalog

    catalog = open_catalog(project)
    return catalog.table_exists


@app.command()
@handle_errors
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline id.")],
    conf: Annotated[str | None, typer.Option(help="Run configuration as JSON.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Airflow's task logs.")] = False,
    profile: ProfileOption = None,
) -> None:
    """Run one pipeline through Airflow in this process, with per-step progress and a summary."""
    _project(profile)
    report = _run(pipeline, json.loads(conf) if conf else None, verbose)
    _exit_on_failure(report)


def _run(pipeline: str, conf: dict[str, Any] | None, verbose: bool):
    import datetime as dt

    from akko_orchestrator.cli.console import airflow_output_to
    from akko_orchestrator.cli.render import progress_line, run_summary
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    project = _project()
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

    _project(profile)
    if bad_rows is not None:
        _demo_quality_gate(bad_rows, verbose)
        return
    report = _run(DEMO_PIPELINE, None, verbose)
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

    project = _project()
    plan = _pipeline_plan(project, DEMO_PIPELINE)
    gate = next((s for s in plan.steps if s.writes == DEMO_GATED_TABLE and _step_checks(s)), None)
    if gate is None:
        raise AkkoError(f"{DEMO_PIPELINE} has no step with checks writing {DEMO_GATED_TABLE} on this profile")
    catalog = open_catalog(project)
    before = _main_state(catalog, DEMO_GATED_TABLE)
    report = _run(DEMO_PIPELINE, {"bad_rows": bad_rows}, verbose)
    after = _main_state(catalog, DEMO_GATED_TABLE)

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
    console.print(f"{DEMO_GATED_TABLE} main before: {_describe_main(before)}")
    console.print(f"{DEMO_GATED_TABLE} main after:  {_describe_main(after)}")
    if unchanged and before is None:
        console.print(f"[green]✓ no bad row reached {DEMO_GATED_TABLE}[/green]: it was created empty")
    elif unchanged:
        console.print(f"[green]✓ {DEMO_GATED_TABLE} unchanged[/green]: no bad row reached main")
    else:
        console.print(f"[red]✗ {DEMO_GATED_TABLE} changed[/red]")

    branch = audit_branch(DEMO_PIPELINE, gate.id)
    head = _branch_head(catalog, DEMO_GATED_TABLE, branch)
    if head is not None:
        console.print(
            f"The rejected data waits on branch [bold]{branch}[/bold] (snapshot {head[0]}, {head[1]} rows): "
            f"`akko tables {DEMO_GATED_TABLE}`, "
            f"`akko query \"SELECT * FROM {DEMO_GATED_TABLE} WHERE region NOT IN ('EU', 'US', 'APAC')\" "
            f"--at {DEMO_GATED_TABLE}={branch}`; `akko tables --drop-audit {DEMO_GATED_TABLE}` removes it.",
            soft_wrap=True,  # commands stay whole, to be copied
        )
    downstream = _downstream(plan, gate.id)
    not_run = [t for t in report.tasks if t.task_id.split(".")[0] in downstream]
    if not_run:
        states = ", ".join(f"{t.task_id} ({t.state})" for t in not_run)
        ran = [t for t in not_run if t.state == "success"]
        console.print(
            ("[red]downstream steps ran[/red]: " if ran else "Downstream steps did not run: ") + states
        )
    console.print(f"Latest results: `akko checks {DEMO_PIPELINE}`; `akko demo` publishes good data again.")
    if not (failed_on_checks and unchanged):
        raise typer.Exit(1)


def _main_state(catalog: Catalog, table_name: str) -> tuple[int, int] | None:
    """(snapshot id, rows) of a table's main, None if the table or its main does not exist."""
    if not catalog.table_exists(table_name):
        return None
    snapshot = catalog.load_table(table_name).current_snapshot()
    if snapshot is None:
        return None
    summary = snapshot.summary
    return snapshot.snapshot_id, int(summary.get("total-records", 0)) if summary else 0


def _describe_main(state: tuple[int, int] | None) -> str:
    return "no table" if state is None else f"snapshot {state[0]}, {state[1]} rows"


def _branch_head(catalog: Catalog, table_name: str, branch: str) -> tuple[int, int | None] | None:
    from akko_orchestrator.lakehouse.inspect import branches

    if not catalog.table_exists(table_name):
        return None
    info = next((b for b in branches(catalog.load_table(table_name)) if b.name == branch), None)
    return (info.snapshot_id, info.rows) if info is not None else None


def _step_checks(planned: Any) -> list[Any]:
    """The `checks:` of a planned step (steps without an output have none)."""
    return list(getattr(planned.step, "checks", None) or [])


def _pipeline_plan(project: Project, pipeline: str) -> Plan:
    """`pipeline`'s plan for the active profile, planned as its DAG is (`compile_plan`: spec, then plan)."""
    from akko_orchestrator.compiler.entry import compile_plan
    from akko_orchestrator.spec.loader import find_spec_files
    from akko_orchestrator.spec.yaml_source import SpecSource

    known = []
    for spec in find_spec_files(project.pipelines_dir):
        try:
            data = SpecSource.read(spec).data
        except (SpecError, OSError, ValueError):  # another spec's problem; `akko validate` reports it
            continue
        if isinstance(data, dict) and data.get("pipeline"):
            known.append(str(data["pipeline"]))
            if data["pipeline"] == pipeline:
                return compile_plan(spec, project.root, profile=project.profile_name)
    raise AkkoError(
        f"no pipeline '{pipeline}' in {project.pipelines_dir} (pipelines: {', '.join(sorted(known))})"
    )


def _downstream(plan: Plan, step_id: str) -> set[str]:
    """Steps that depend on `step_id`, directly or not."""
    found: set[str] = set()
    for step in plan.steps:  # topological order: upstream steps are seen first
        if step_id in step.upstream or found.intersection(step.upstream):
            found.add(step.id)
    return found


@app.command()
@handle_errors
def dev(
    port: Annotated[int, typer.Option(help="API server / UI port.")] = 8080,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    profile: ProfileOption = None,
) -> None:
    """Start a real local Airflow (api-server, scheduler, dag-processor, triggerer) on the project's pipelines."""
    from akko_orchestrator.local_airflow.dev import run_dev

    run_dev(_project(profile), host=host, port=port, out=console)


@app.command()
@handle_errors
def sync() -> None:
    """Write the per-pipeline shims into the DAG folder (done automatically by run, demo and dev)."""
    from akko_orchestrator.compiler.shims import sync_shims

    project = _project()
    result = sync_shims(project.pipelines_dir, project.dags_dir, project.root)
    console.print(
        f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.removed)} removed in {project.dags_dir}"
    )


@app.command()
@handle_errors
def tables(
    table: Annotated[str | None, typer.Argument(help="namespace.table for details.")] = None,
    drop_audit: Annotated[
        bool,
        typer.Option(
            "--drop-audit",
            help="Remove the audit branches (rejected data of steps whose checks failed) of TABLE, or of every "
            "table. The next run of such a step replaces its branch anyway.",
        ),
    ] = False,
    profile: ProfileOption = None,
) -> None:
    """List the lakehouse's tables, or one table's schema, snapshots and branches."""
    from akko_orchestrator.cli.render import branches_table, rows_table
    from akko_orchestrator.lakehouse import inspect
    from akko_orchestrator.lakehouse.catalog import open_catalog

    catalog = open_catalog(_project(profile))
    if table is not None and not catalog.table_exists(table):
        raise AkkoError(f"no table {table}; `akko tables` lists them")
    if drop_audit:
        _drop_audit_branches(catalog, table)
        return
    if table is None:
        infos = inspect.list_tables(catalog)
        rows = [
            [i.name, i.rows, i.snapshots, i.partitioning, i.updated, len(i.audit_branches) or "-"]
            for i in infos
        ]
        columns = ["table", "rows", "snapshots", "partitioning", "updated", "audit branches"]
        console.print(rows_table("tables", columns, rows))
        left = sum(len(i.audit_branches) for i in infos)
        if left:
            console.print(
                f"{left} audit branch(es) hold data rejected by checks: `akko tables TABLE` shows them, "
                "`akko tables --drop-audit [TABLE]` removes them."
            )
        return
    loaded = catalog.load_table(table)
    schema_rows = [
        [f.field_id, f.name, str(f.field_type), "required" if f.required else "optional"]
        for f in loaded.schema().fields
    ]
    console.print(rows_table(f"{table} schema", ["id", "column", "type", "null"], schema_rows))
    snaps = [
        [s.snapshot_id, s.committed, s.operation, s.added_rows, s.total_rows, s.written_by, ", ".join(s.refs)]
        for s in inspect.snapshots(loaded)
    ]
    console.print(
        rows_table(
            f"{table} snapshots",
            ["snapshot", "committed", "operation", "added", "total", "written by", "head of"],
            snaps,
        )
    )
    refs = inspect.branches(loaded)
    if not refs:
        console.print(f"{table} branches: main only")
        return
    console.print(branches_table(f"{table} branches (besides main)", refs))
    for ref in (r for r in refs if r.audit):
        console.print(
            f"{ref.name}: data rejected by the checks of {ref.written_by} (run {ref.run_id}); main was not "
            f'changed. Query it: `akko query "SELECT * FROM {table}" --at {table}={ref.name}`; remove it: '
            f"`akko tables --drop-audit {table}`.",
            soft_wrap=True,
        )


def _drop_audit_branches(catalog: Catalog, table: str | None) -> None:
    from akko_orchestrator.lakehouse import inspect
    from akko_orchestrator.lakehouse.wap import remove_branch

    names = [table] if table is not None else [i.name for i in inspect.list_tables(catalog)]
    removed = 0
    for name in names:
        for ref in inspect.branches(catalog.load_table(name)):
            if ref.audit and remove_branch(catalog, name, ref.name):
                removed += 1
                console.print(
                    f"removed {name} branch {ref.name} (snapshot {ref.snapshot_id}, {ref.rows} rows, "
                    f"written by {ref.written_by}, run {ref.run_id})",
                    soft_wrap=True,
                )
    where = table or "any table"
    console.print(f"{removed} audit branch(es) removed." if removed else f"No audit branch on {where}.")


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
    project = _project(profile)
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
        _pipeline_plan(project, pipeline)  # an unknown pipeline id is an error, not "nothing recorded"
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
        if _branch_head(catalog, table_name, branch) is not None:
            console.print(
                f"{step}: its rejected data waits on branch {branch} of {table_name}; main was not changed "
                f"(`akko tables {table_name}`).",
                soft_wrap=True,
            )


def _rerun_checks(project: Project, pipeline: str) -> None:
    from akko_orchestrator.cli.render import check_report_rows, check_table, sample_table
    from akko_orchestrator.quality.runner import run_checks
    from akko_orchestrator.runtime.context import StepContext

    plan = _pipeline_plan(project, pipeline)
    checked = [s for s in plan.steps if s.writes and _step_checks(s)]
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
            main = _main_state(ctx.catalog, table_name)
            if main is None:
                console.print(f"{planned.id}: {table_name} not written yet")
                continue
            # Current data, no previous row count (relative row_count rules pass): nothing is written or recorded.
            report = run_checks(
                ctx.sql_engine,
                table_name,
                _step_checks(planned),
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


@app.command()
@handle_errors
def query(
    sql: Annotated[str, typer.Argument(help="A query in Trino SQL over namespace.table names.")],
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 100,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            help="TABLE=REF: read TABLE at a branch (e.g. an audit branch) or snapshot id instead of main; "
            "repeatable.",
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Query the lakehouse in Trino SQL (on DuckDB locally)."""
    from akko_orchestrator.cli.render import rows_table
    from akko_orchestrator.plan.sql_refs import SqlSyntaxError, tables_read
    from akko_orchestrator.runtime.context import StepContext
    from akko_orchestrator.runtime.results import json_safe

    try:
        refs = [r.qualified for r in tables_read(sql)]
    except SqlSyntaxError as exc:
        raise AkkoError(f"SQL does not parse as Trino: {exc}") from None
    ctx = StepContext(_project(profile), pipeline_id="cli", step_id="query")
    try:
        versions = _pinned_refs(ctx.catalog, at or [])
        result = ctx.sql_engine.query(sql, refs, versions=versions or None)
    finally:
        ctx.close()
    rows = [[json_safe(v) for v in r.values()] for r in result.slice(0, limit).to_pylist()]
    console.print(rows_table(f"{result.num_rows} row(s)", result.column_names, rows))


def _pinned_refs(catalog: Catalog, specs: list[str]) -> dict[str, int]:
    """`--at TABLE=REF` options to snapshot ids (REF: a branch or tag name, or a snapshot id)."""
    versions = {}
    for spec in specs:
        table_name, sep, ref = spec.partition("=")
        if not sep or not table_name or not ref:
            raise AkkoError(f"--at {spec}: expected TABLE=BRANCH or TABLE=SNAPSHOT_ID")
        if not catalog.table_exists(table_name):
            raise AkkoError(f"--at {spec}: no table {table_name}")
        table = catalog.load_table(table_name)
        if ref in table.metadata.refs:
            versions[table_name] = table.metadata.refs[ref].snapshot_id
        elif ref.isdigit() and table.metadata.snapshot_by_id(int(ref)) is not None:
            versions[table_name] = int(ref)
        else:
            raise AkkoError(
                f"--at {spec}: {table_name} has no branch, tag or snapshot '{ref}' "
                f"(refs: {', '.join(sorted(table.metadata.refs))}; snapshots: `akko tables {table_name}`)"
            )
    return versions


@app.command()
@handle_errors
def new(
    pipeline: Annotated[str, typer.Argument(help="Pipeline id (lowercase, underscores).")],
    team: Annotated[str, typer.Option(help="Owning team; also the Iceberg namespace used.")] = "analytics",
    owner: Annotated[str, typer.Option(help="Owner shown in Airflow.")] = "data-engineering",
) -> None:
    """Scaffold a pipeline spec that validates."""
    import re

    from akko_orchestrator.spec.scaffold import scaffold

    for value, what in ((pipeline, "pipeline id"), (team, "team")):
        if not re.match(r"^[a-z][a-z0-9_]*$", value):
            raise AkkoError(
                f"{what} '{value}' must be lowercase letters, digits and underscores, starting with a letter"
            )
    project = _project()
    target = project.pipelines_dir / f"{pipeline}.yaml"
    if target.exists():
        raise AkkoError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(scaffold(pipeline, team, owner))
    console.print(
        f"Created {target.relative_to(project.root)}; check it with `akko validate`, run it with `akko run {pipeline}`."
    )


@app.command()
@handle_errors
def schema(
    output: Annotated[Path | None, typer.Option(help="Write to a file instead of stdout.")] = None,
) -> None:
    """Print the pipeline spec's JSON Schema (for IDE completion)."""
    from akko_orchestrator.spec.schema import json_schema_text

    text = json_schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        console.print(f"Wrote {output}")


_mount_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":  # `python -m akko_orchestrator.cli.main` (tests run the CLI of this interpreter)
    main()
