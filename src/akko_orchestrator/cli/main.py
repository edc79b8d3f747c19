"""`akko` commands. Each builds a `Project` and calls one library function; nothing here knows Airflow internals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from akko_orchestrator.cli.console import DEBUG, console, err_console, handle_errors
from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.errors import AkkoError

app = typer.Typer(
    help="AKKO Orchestrator: declarative lakehouse pipelines on Apache Airflow 3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
DEMO_PIPELINE = "akko_e2e_pipeline"
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False, profile: ProfileOption = None
) -> None:
    """Run AKKO's end-to-end demo (embedded lakehouse by default) through real Airflow; print the verification."""
    from akko_orchestrator.cli.render import rows_table

    _project(profile)
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
    profile: ProfileOption = None,
) -> None:
    """List the lakehouse's tables, or one table's schema and snapshots."""
    from akko_orchestrator.cli.render import rows_table
    from akko_orchestrator.lakehouse import inspect
    from akko_orchestrator.lakehouse.catalog import open_catalog

    catalog = open_catalog(_project(profile))
    if table is None:
        infos = inspect.list_tables(catalog)
        rows = [[i.name, i.rows, i.snapshots, i.partitioning, i.updated] for i in infos]
        console.print(rows_table("tables", ["table", "rows", "snapshots", "partitioning", "updated"], rows))
        return
    if not catalog.table_exists(table):
        raise AkkoError(f"no table {table}; `akko tables` lists them")
    loaded = catalog.load_table(table)
    schema_rows = [
        [f.field_id, f.name, str(f.field_type), "required" if f.required else "optional"]
        for f in loaded.schema().fields
    ]
    console.print(rows_table(f"{table} schema", ["id", "column", "type", "null"], schema_rows))
    snaps = [
        [s.snapshot_id, s.committed, s.operation, s.added_rows, s.total_rows, s.written_by]
        for s in inspect.snapshots(loaded)
    ]
    console.print(
        rows_table(
            f"{table} snapshots",
            ["snapshot", "committed", "operation", "added", "total", "written by"],
            snaps,
        )
    )


@app.command()
@handle_errors
def query(
    sql: Annotated[str, typer.Argument(help="A query in Trino SQL over namespace.table names.")],
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 100,
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
        result = ctx.sql_engine.query(sql, refs)
    finally:
        ctx.close()
    rows = [[json_safe(v) for v in r.values()] for r in result.slice(0, limit).to_pylist()]
    console.print(rows_table(f"{result.num_rows} row(s)", result.column_names, rows))


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
