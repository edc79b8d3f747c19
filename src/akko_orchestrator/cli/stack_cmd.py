"""`akko stack up|down|status`: AKKO's cluster services (PostgreSQL, Trino) on this machine, on loopback.

Mounted by cli/main.py as `app.add_typer(stack_app, name="stack")`. Endpoints and secrets go to the env file
(`<state>/stack/stack.env`, 0600), never to the terminal.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from akko_orchestrator.cli.console import console, handle_errors
from akko_orchestrator.cli.output import JsonOption, print_json
from akko_orchestrator.stack.base import ServiceStatus
from akko_orchestrator.stack.manager import StackManager, StackOptions, build_stack

stack_app = typer.Typer(
    help="Start, stop and inspect AKKO's cluster services (PostgreSQL, Trino) on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _manager(options: StackOptions | None = None) -> StackManager:
    from akko_orchestrator.cli.app import current_project

    return build_stack(current_project(), options)


@stack_app.command()
@handle_errors
def up(
    airflow_db: Annotated[
        bool,
        typer.Option(
            "--airflow-db/--no-airflow-db",
            help="Create Airflow's metadata DB (AKKO_AIRFLOW_DB), used by the `cluster` profile.",
        ),
    ] = True,
    postgres_port: Annotated[int | None, typer.Option(help="PostgreSQL port (default: a free one).")] = None,
    trino_port: Annotated[int | None, typer.Option(help="Trino port (default: a free one).")] = None,
    rest_catalog: Annotated[
        bool,
        typer.Option(
            "--rest-catalog",
            help="Also an Iceberg REST catalog with OAuth2 client credentials (AKKO_REST_*).",
        ),
    ] = False,
    keycloak: Annotated[
        bool,
        typer.Option(
            "--keycloak",
            help="Also Keycloak with the `akko` realm (AKKO's roles, akko.yaml's teams, test users): SSO for "
            "Airflow when a profile's `airflow.auth` is `keycloak` (AKKO_KEYCLOAK_*).",
        ),
    ] = False,
    celery: Annotated[
        bool,
        typer.Option(
            "--celery",
            help="Also Redis and Airflow scaled out with CeleryExecutor (api-server, scheduler, dag-processor, "
            "triggerer, two Celery workers) on the stack's PostgreSQL.",
        ),
    ] = False,
    engines: Annotated[
        bool, typer.Option("--engines/--no-engines", help="Start Trino and Spark Connect.")
    ] = True,
    airflow_profile: Annotated[
        str | None,
        typer.Option(help="With --celery: the profile tasks run with (default: the project's profile)."),
    ] = None,
) -> None:
    """Download (once, cached) and start the services; write their endpoints to the stack's env file."""
    manager = _manager(
        StackOptions(
            postgres_port=postgres_port,
            trino_port=trino_port,
            airflow_db=airflow_db,
            rest_catalog=rest_catalog,
            keycloak=keycloak,
            celery=celery,
            engines=engines,
            airflow_profile=airflow_profile,
        )
    )
    statuses = manager.up(progress=lambda message: console.print(f"[dim]{message}[/dim]"))
    console.print(status_view(statuses, console.width))
    console.print(
        f"Endpoints and secrets: {manager.paths.env_file} (load with `set -a; . {manager.paths.env_file}`)."
    )


@stack_app.command()
@handle_errors
def down() -> None:
    """Stop the services (data is kept) and remove the env file; also the local Spark Connect server that
    `spark` steps of the embedded profile start on demand."""
    from akko_orchestrator.cli.app import current_project
    from akko_orchestrator.stack.local_spark import local_spark_service

    statuses = _manager().down()
    local_spark = local_spark_service(current_project())
    if local_spark.status().running:
        local_spark.stop()
        statuses.append(local_spark.status())
    console.print(status_view(statuses, console.width))


@stack_app.command()
@handle_errors
def status(as_json: JsonOption = False) -> None:
    """Show each service: running or stopped, endpoint, pid, start-up time."""
    statuses = _manager().status()
    if as_json:
        print_json({"services": [dataclasses.asdict(item) for item in statuses]})
        return
    console.print(status_view(statuses, console.width))


WIDE = 100  # columns from which the table fits; below, one compact line per service


def status_view(statuses: list[ServiceStatus], width: int) -> RenderableType:
    """The table on a wide terminal; on a narrow one (80 columns, or piped) one line per service, its endpoint
    never cut (it is copied into other tools), the detail indented below it."""
    if width >= WIDE:
        return status_table(statuses)
    name_width = max((len(item.name) for item in statuses), default=0)
    lines: list[RenderableType] = [Text("akko stack")]
    for item in statuses:
        state = "[green]running[/green]" if item.running else "[dim]stopped[/dim]"
        facts = [item.endpoint or "-"]
        if item.pid:
            facts.append(f"pid {item.pid}")
        if item.startup_seconds is not None:
            facts.append(f"{item.startup_seconds:.1f}s")
        padded = escape(item.name.ljust(name_width))
        lines.append(Text.from_markup(f"{padded}  {state}  {escape('  '.join(facts))}"))
        if item.detail:
            lines.append(Text("    " + item.detail, style="dim", overflow="fold"))
    return Group(*lines)


def status_table(statuses: list[ServiceStatus]) -> Table:
    table = Table(title="akko stack", title_justify="left")
    for column in ("service", "state", "endpoint", "pid", "start-up", "detail"):
        # Endpoints are copied into other tools: never wrapped or cut; the free-text detail wraps instead.
        table.add_column(
            column,
            justify="right" if column in ("pid", "start-up") else "left",
            no_wrap=column != "detail",
            overflow="fold",
        )
    for item in statuses:
        table.add_row(
            item.name,
            "[green]running[/green]" if item.running else "[dim]stopped[/dim]",
            item.endpoint or "-",
            str(item.pid) if item.pid else "-",
            f"{item.startup_seconds:.1f}s" if item.startup_seconds is not None else "-",
            item.detail,
        )
    return table
