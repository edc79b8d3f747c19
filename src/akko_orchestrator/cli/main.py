"""`akko`: the command-line entry point. Each command builds a `Project` and calls one library function; the
commands live in one module per concern and register themselves on the shared app (cli/app.py)."""

from __future__ import annotations

import atexit
import gc

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
from akko_orchestrator.cli.stack_cmd import stack_app

app.add_typer(stack_app, name="stack", help="Start, stop and inspect the cluster engines on this machine.")


def main() -> None:
    # Airflow, pyiceberg and DuckDB leave a large heap: the interpreter's final garbage collection of it took
    # ~2.6 s of an `akko run` here. Every command's output is written by then; freeze the heap instead.
    atexit.register(gc.freeze)
    app()


if __name__ == "__main__":  # `python -m akko_orchestrator.cli.main` (tests run the CLI of this interpreter)
    main()
