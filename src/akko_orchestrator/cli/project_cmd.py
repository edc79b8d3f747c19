"""Project commands: `akko validate`, `dev`, `sync`, `new` and `schema`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import DEBUG, console, err_console, handle_errors
from akko_orchestrator.cli.output import JsonOption, print_json
from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError


@app.command()
@handle_errors
def validate(
    path: Annotated[
        Path | None, typer.Argument(help="Spec file or folder (default: the project's pipelines).")
    ] = None,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Check every spec: schema, unknown fields, ids, cycles, tables, cron, SQL. Exit 1 on any error."""
    import dataclasses

    from rich.markup import escape

    from akko_orchestrator.spec.validate import validate_path

    project = project_for(profile)
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
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "files": list(report.files),
                "valid_files": list(report.valid_files),
                "problems": [{**dataclasses.asdict(i), "message": i.format()} for i in report.issues],
            }
        )
    else:
        if DEBUG["enabled"]:  # what AKKO did not expect while judging a file (that file is reported invalid)
            import traceback

            for crash in report.crashes:
                err_console.print("".join(traceback.format_exception(crash)), markup=False)
        # One problem per line, however long: `file:line:column: ...` is what editors and CI annotations parse.
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
def dev(
    port: Annotated[int, typer.Option(help="API server / UI port.")] = 8080,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    profile: ProfileOption = None,
) -> None:
    """Start a real local Airflow (api-server, scheduler, dag-processor, triggerer) on the project's pipelines."""
    from akko_orchestrator.local_airflow.dev import run_dev

    run_dev(project_for(profile), host=host, port=port, out=console)


@app.command()
@handle_errors
def sync(as_json: JsonOption = False) -> None:
    """Write the per-pipeline shims into the DAG folder (done automatically by run, demo and dev)."""
    from akko_orchestrator.compiler.shims import sync_shims
    from akko_orchestrator.local_airflow.auth import sync_team_bundles, team_mode
    from akko_orchestrator.local_airflow.dag_folders import link_dag_folders

    project = project_for()
    result = sync_shims(project.pipelines_dir, project.dags_dir, project.root)
    link_dag_folders(project)  # akko.yaml `dags`: hand-written DAG folders beside the shims
    # Multi-team mode parses the teams' bundle folders, not the flat one: they are refreshed here too.
    teams = sync_team_bundles(project) if team_mode(project) else {}
    if as_json:
        names = {
            key: sorted(str(p) for p in getattr(result, key)) for key in ("written", "unchanged", "removed")
        }
        print_json({"dags_dir": str(project.dags_dir), **names, "team_bundles": teams})
        return
    console.print(
        f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.removed)} removed in "
        f"{project.dags_dir}"
    )
    for team, shims in teams.items():
        console.print(f"team {team}: {len(shims)} pipeline(s) in its DAG bundle")


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
    project = project_for()
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
