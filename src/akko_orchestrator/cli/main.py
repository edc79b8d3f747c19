"""`akko`: the command-line entry point. Each command builds a `Project` and calls one library function; the
commands live in one module per concern and register themselves on the shared app (cli/app.py)."""

from __future__ import annotations

import atexit
import gc
import sys

from rich.markup import escape

from akko_orchestrator.cli import (  # noqa: F401 - they register commands
    checks_cmd,
    ci_cmd,
    lineage_cmd,
    maintenance_cmd,
    project_cmd,
    run_cmd,
    tables_cmd,
)
from akko_orchestrator.cli.app import app
from akko_orchestrator.cli.console import DEBUG, err_console
from akko_orchestrator.cli.stack_cmd import stack_app

app.add_typer(stack_app, name="stack", help="Start, stop and inspect the cluster engines on this machine.")


def main() -> None:
    # Airflow, pyiceberg and DuckDB leave a large heap: the interpreter's final garbage collection of it took
    # ~2.6 s of an `akko run` here. Every command's output is written by then; freeze the heap instead.
    atexit.register(gc.freeze)
    try:
        app()
    except Exception as exc:  # not an AkkoError (the commands' handler prints those): still no traceback
        if DEBUG["enabled"]:
            raise
        what = f"{type(exc).__name__}: {exc}"
        what = what if len(what) <= 300 else what[:300] + "..."
        err_console.print(
            f"[red]Error:[/red] AKKO failed unexpectedly ({escape(what)}); run again with --debug for the "
            "traceback, and please report it",
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":  # `python -m akko_orchestrator.cli.main` (tests run the CLI of this interpreter)
    main()
