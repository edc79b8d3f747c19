"""`akko ci`: every spec, the JSON Schema, every DAG imported as the dag-processor would, the pipeline tests; one
located line per problem, then a summary; exit 1 on any problem."""

from __future__ import annotations

import textwrap
from typing import Annotated

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, handle_errors
from akko_orchestrator.cli.output import JsonOption, print_json
from akko_orchestrator.errors import AkkoError

_STATUS = {"ok": "[green]ok[/green]", "failed": "[red]failed[/red]", "skipped": "[yellow]skipped[/yellow]"}


@app.command()
@handle_errors
def ci(
    skip: Annotated[
        list[str] | None, typer.Option(help="Leave out a step: schema, dags or tests (repeatable).")
    ] = None,
    as_json: JsonOption = False,
    github: Annotated[
        bool, typer.Option("--github", help="Also print GitHub Actions annotations (::error file=...).")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Every DAG file's parse time.")] = False,
    workers: Annotated[int | None, typer.Option(help="DAG files parsed at once (default: CPUs).")] = None,
    profile: ProfileOption = None,
) -> None:
    """Check a pipeline repo before a merge: specs, JSON Schema, DAG imports (with Airflow's cluster policies),
    pipeline tests. Exit 1 on any problem."""
    from rich.markup import escape

    from akko_orchestrator.ci.runner import SKIPPABLE, run_ci

    unknown = sorted(set(skip or ()) - set(SKIPPABLE))
    if unknown:
        raise AkkoError(f"--skip {', '.join(unknown)}: steps that can be skipped are {', '.join(SKIPPABLE)}")
    report = run_ci(project_for(profile), set(skip or ()), workers)
    if as_json:
        print_json(report.as_dict())
        raise typer.Exit(0 if report.ok else 1)
    for problem in report.problems:
        console.print(escape(_wrapped(problem.format())), soft_wrap=True)
        if github:
            message = problem.message.replace("%", "%25").replace("\n", "%0A")
            title = f"{problem.step}/{problem.rule}"
            typer.echo(
                f"::error file={problem.file},line={problem.line},col={problem.column},title={title}::{message}"
            )
    if report.problems:
        console.print()
    for step in report.steps:
        line = escape(_wrapped(f"{step.name:<9}{step.status:<8}{step.seconds:5.1f}s  {step.detail}", 25))
        console.print(line.replace(step.status, _STATUS.get(step.status, step.status), 1), soft_wrap=True)
        if verbose:
            for file, seconds in sorted(step.timings.items()):
                console.print(escape(f"  {seconds:6.2f}s  {file}"), soft_wrap=True)
    by_step = ", ".join(f"{s.name} {report.count(s.name)}" for s in report.steps if report.count(s.name))
    if report.ok:
        console.print("[green]akko ci: no problem[/green]")
    else:
        console.print(f"[red]akko ci: {len(report.problems)} problem(s)[/red] ({by_step})")
        raise typer.Exit(1)


def _wrapped(text: str, indent: int = 4) -> str:
    """On a terminal, wrapped to its width with a hanging indent; elsewhere (CI logs, pipes) one line, so that
    problem matchers and grep see `file:line:col: ...` whole."""
    if not console.is_terminal:
        return text
    width = max(console.width, 40)
    wrapped = textwrap.wrap(
        text, width, subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(wrapped)
