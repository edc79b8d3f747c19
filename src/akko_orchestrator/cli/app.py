"""The `akko` Typer app and its global options (--project, --profile, --debug), shared by every command module.

Command modules (cli/*_cmd.py) register their commands on `app`; cli/main.py imports them in order and mounts
`akko stack`. Nothing here imports a command module, so there is no import circle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from akko_orchestrator.cli.console import DEBUG
from akko_orchestrator.config.project import Project, load_project

app = typer.Typer(
    help="AKKO Orchestrator: declarative lakehouse pipelines on Apache Airflow 3.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_options: dict[str, Any] = {"project": None, "profile": None}


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


def project_for(profile: str | None = None) -> Project:
    """The selected project, with a command's own --profile (if given) winning over the global one."""
    if profile is not None:
        _options["profile"] = profile
    return current_project()
