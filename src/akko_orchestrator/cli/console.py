"""One console for all CLI output, and the error handler: known errors print `Error: ...`, exit 1, and show a
traceback only with --debug."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

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
                err_console.print(f"[red]error[/red] {issue.format()}", markup=True, soft_wrap=True)
            _maybe_traceback()
            sys.exit(1)
        except AkkoError as exc:
            err_console.print(f"[red]Error:[/red] {exc}", soft_wrap=True)
            _maybe_traceback()
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _maybe_traceback() -> None:
    if DEBUG["enabled"]:
        err_console.print_exception()
