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
from rich.text import Text

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
                err_console.print(f"[red]error[/red] {escape(redact(issue.format()))}", soft_wrap=True)
            _maybe_traceback()
            sys.exit(1)
        except AkkoError as exc:
            err_console.print(f"[red]Error:[/red] {escape(redact(str(exc)))}", soft_wrap=True)
            _maybe_traceback()
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _maybe_traceback() -> None:
    if DEBUG["enabled"]:
        with err_console.capture() as traceback:
            err_console.print_exception()
        err_console.print(Text.from_ansi(redact(traceback.get())), end="")


def redact(text: str) -> str:
    """A message with every secret Airflow's masker knows in this process replaced by `***`."""
    from akko_orchestrator.config.secrets import redact as masked

    return masked(text)


@contextlib.contextmanager
def airflow_output_to(log_file: Path | None, to_stderr: bool = False) -> Iterator[Console]:
    """Send everything written to fds 1 and 2 (Airflow's task and scheduler logs) to `log_file` (0600, in a
    0700 folder), and yield a console still bound to the terminal for our own progress lines (to stderr with
    `to_stderr`: stdout then carries JSON only). `None` keeps Airflow's output on the terminal (on stderr with
    `to_stderr`). Either way every line passes Airflow's secrets masker first (`config/private_logs.py`)."""
    from akko_orchestrator.config.private_logs import log_folder, open_private, redacted_fds

    target = err_console if to_stderr else console
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.ExitStack() as stack:
        terminal = stack.enter_context(os.fdopen(os.dup(2 if to_stderr else 1), "w", buffering=1))
        progress = Console(
            file=terminal, highlight=False, force_terminal=target.is_terminal, width=target.width
        )
        if log_file is not None:
            log_folder(log_file.parent)
            sink = stack.enter_context(open_private(log_file))
            sinks = {1: sink, 2: sink}
        else:
            out = stack.enter_context(os.fdopen(os.dup(2 if to_stderr else 1), "wb", buffering=0))
            sinks = {1: out, 2: stack.enter_context(os.fdopen(os.dup(2), "wb", buffering=0))}
        with redacted_fds(sinks):
            yield progress
