"""One console for all CLI output, and the error handler: known errors print `Error: ...`, exit 1, and show a
traceback only with --debug."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from akko_orchestrator.errors import AkkoError, SpecError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])
DEBUG = {"enabled": False}


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            for issue in exc.issues:
                err_console.print(f"[red]error[/red] {escape(issue.format())}", soft_wrap=True)
            _maybe_traceback()
            sys.exit(1)
        except AkkoError as exc:
            err_console.print(f"[red]Error:[/red] {escape(str(exc))}", soft_wrap=True)
            _maybe_traceback()
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _maybe_traceback() -> None:
    if DEBUG["enabled"]:
        err_console.print_exception()


@contextlib.contextmanager
def airflow_output_to(log_file: Path | None, to_stderr: bool = False) -> Iterator[Console]:
    """Send everything written to fds 1 and 2 (Airflow's task and scheduler logs) to `log_file`, and yield a
    console still bound to the terminal for our own progress lines (to stderr with `to_stderr`: stdout then
    carries JSON only). `None` keeps Airflow's output visible (on stderr with `to_stderr`)."""
    target = err_console if to_stderr else console
    if log_file is None and not to_stderr:
        yield console
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2 if to_stderr else 1), "w", buffering=1)
    progress = Console(file=terminal, highlight=False, force_terminal=target.is_terminal, width=target.width)
    sink = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        sink = open(log_file, "ab")  # noqa: SIM115 - closed below, after the fds are restored
    try:
        os.dup2(sink.fileno() if sink is not None else saved[1], 1)
        os.dup2(sink.fileno() if sink is not None else saved[1], 2)
        yield progress
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        terminal.close()
        if sink is not None:
            sink.close()
