"""`akko maintain [TABLE...] [--dry-run] [--json]`: run (or show) the tables' maintenance now, as the
`akko_maintenance` DAG's tasks would; one compact line per table, readable at 80 columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, handle_errors
from akko_orchestrator.cli.output import JsonOption, print_json
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from akko_orchestrator.maintenance.report import TableReport

_STYLES = {"done": "green", "dry-run": "cyan", "skipped": "yellow", "failed": "red"}


@app.command()
@handle_errors
def maintain(
    tables: Annotated[
        list[str] | None, typer.Argument(help="namespace.table (default: every table the pipelines write).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
    ] = False,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Maintain Iceberg tables now: compact small files, rewrite manifests, expire snapshots, remove orphan files
    and the audit branches and check results past their retention (akko.yaml `maintenance:`)."""
    from akko_orchestrator.compiler.maintenance_dag import maintained_tables
    from akko_orchestrator.maintenance.run import maintain as run

    project = project_for(profile)
    names = list(tables or maintained_tables(project.root, project.dags_dir))
    if not names:
        raise AkkoError(
            "no table to maintain: no pipeline writes one (name tables: `akko maintain ns.table`)"
        )
    reports = run(project, names, dry_run=dry_run)
    if as_json:
        print_json({"dry_run": dry_run, "tables": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            console.print(line(report), soft_wrap=False)
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


def line(report: TableReport) -> str:
    """`demo.sales  done  files 200->2 (256K->5K)  compact 200->2 files, manifests 200->1`, wrapped by rich."""
    style = _STYLES.get(report.status, "white")
    files = ""
    if report.status in ("done", "dry-run"):
        files = f"files {report.files_before}"
        if report.status == "done":
            files += f"->{report.files_after} ({_size(report.bytes_before)}->{_size(report.bytes_after)})"
        files += "  "
    text = report.reason if report.status in ("skipped", "failed") else report.summary()
    return f"{escape(report.table)}  [{style}]{report.status}[/{style}]  {files}{escape(text or '')}"


def _size(size: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}".replace(".0", "")
        size /= 1024  # type: ignore[assignment]
    return f"{size}"
