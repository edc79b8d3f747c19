"""The text of an alert: pipeline, step, run, tables, what went wrong and where the task log is. Plain data in,
plain text out, so every message is testable without Airflow. An error's text may quote a library's message
(a URL, a driver's error): it is masked by Airflow's secrets masker before it is clipped, so no secret, whole
or cut, goes out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from akko_orchestrator.config.secrets import redact

ERROR_CHARS = 1500  # a Slack message stays readable; the task log has the rest


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


def failure_message(pipeline: str, context: Any) -> Message:
    """A task failed for good (after its retries): from the failure callback's Airflow context."""
    ti = context.get("ti")
    task = context.get("task")
    step = getattr(task, "akko_step", None) or getattr(ti, "task_id", "?")
    error = context.get("exception")
    lines = [
        f"step: {step} (task {getattr(ti, 'task_id', '?')}, try {getattr(ti, 'try_number', '?')})",
        f"run: {context.get('run_id') or getattr(ti, 'run_id', '?')}",
        *_tables(getattr(getattr(task, "planned", None), "tables", None)),
        f"error: {_clip(_error_text(error))}",
        *_log_link(ti),
    ]
    return Message(f"AKKO: pipeline {pipeline} failed at step {step}", _body(f"{pipeline} failed", lines))


def warning_message(pipeline: str, step: str, run_id: str, checks: dict[str, Any], ti: Any = None) -> Message:
    """A step published with `warn` checks failing: `checks` is the check report's summary."""
    table = checks.get("table", "?")
    warned = [r for r in checks.get("results", []) if r.get("status") == "warn"]
    lines = [f"step: {step}", f"run: {run_id}", f"table: {table} (published)"]
    lines += [f"warning: {r['name']}: {_clip(str(r.get('observed', '')), 200)}" for r in warned]
    lines += _log_link(ti)
    names = ", ".join(str(r["name"]) for r in warned) or "?"
    return Message(
        f"AKKO: {len(warned)} check warning(s) on {table} ({pipeline})",
        _body(f"{pipeline}: check warnings on {table}: {names}", lines),
    )


def deadline_message(
    pipeline: str, deadline: str, tables: list[str], context: dict[str, Any] | None
) -> Message:
    """The pipeline's deadline passed before its run finished: from the deadline callback's simple context."""
    lines = [*_deadline_lines(deadline, context), *_tables(tables)]
    return Message(
        f"AKKO: pipeline {pipeline} missed its deadline", _body(f"{pipeline} missed its deadline", lines)
    )


def table_deadline_message(
    pipeline: str, deadline: str, table: str, state: str, context: dict[str, Any] | None
) -> Message:
    """A table's deadline passed and the run had not published it (or its state could not be read)."""
    lines = [*_deadline_lines(deadline, context), f"table: {table} ({state})"]
    return Message(
        f"AKKO: {table} ({pipeline}) missed its deadline",
        _body(f"{pipeline} missed its deadline for {table}", lines),
    )


def _deadline_lines(deadline: str, context: dict[str, Any] | None) -> list[str]:
    run = (context or {}).get("dag_run") or {}
    missed = (context or {}).get("deadline") or {}
    return [
        f"deadline: {deadline} ({_utc(missed.get('deadline_time'))})",
        f"run: {run.get('dag_run_id') or run.get('run_id') or '?'} (state {run.get('state', '?')})",
    ]


def _utc(moment: Any) -> str:
    """`2026-12-07 06:00 UTC` from a datetime or its ISO text (the scheduler's context may carry either)."""
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if not isinstance(moment, dt.datetime):
        return "?"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _body(headline: str, lines: list[str]) -> str:
    return "\n".join([f"AKKO alert: {headline}", *lines])


def _tables(tables: Any) -> list[str]:
    return [f"tables: {', '.join(tables)}"] if tables else []


def _log_link(ti: Any) -> list[str]:
    try:
        url = getattr(ti, "log_url", None)
    except Exception:  # noqa: BLE001 - a missing [api] base_url must not cost the alert
        url = None
    return [f"log: {url}"] if url else []


def _error_text(error: Any) -> str:
    if error is None:
        return "unknown (see the task log)"
    text = str(error).strip() or type(error).__name__
    return text if isinstance(error, str) else f"{type(error).__name__}: {text}"


def _clip(text: str, limit: int = ERROR_CHARS) -> str:
    text = redact(text)  # before clipping: a secret cut in two would no longer match its mask
    return text if len(text) <= limit else text[: limit - 1] + "…"
