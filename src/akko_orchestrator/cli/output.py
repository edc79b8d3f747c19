"""`--json`, the same on every command that prints data: one JSON document on stdout and nothing else there
(progress and messages go to stderr), keys in snake_case and stable (docs/cli.md lists each command's shape).

A command takes `as_json: JsonOption`, prints its messages on `messages(as_json)` and ends with
`print_json(data)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from akko_orchestrator.cli.console import console, err_console

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout for scripts (messages go to stderr).")
]


def messages(as_json: bool) -> Console:
    """Where a command's human messages go: stdout normally, stderr when stdout carries JSON."""
    return err_console if as_json else console


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_plain) + "\n")
    sys.stdout.flush()


def _plain(value: Any) -> Any:
    """What json cannot write by itself: dates as ISO-8601, exact decimals as numbers, bytes as hex."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
