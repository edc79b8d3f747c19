"""`akko dev` is ready when every pipeline of the active profile has been parsed by Airflow since the start (its
DAG or its import error), read through Airflow's REST API; import errors are reported as they appear."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from akko_orchestrator.compiler.shims import MARKER
from akko_orchestrator.config.project import Project
from akko_orchestrator.local_airflow.api_client import ApiClient


def not_ready(api: ApiClient, shim_files: Iterable[str], since: datetime) -> set[str]:
    """What is not ready yet: "api", "scheduler", or shim files not parsed since `since` (no DAG, no error).

    `since` matters on a restart: the DB still holds the previous session's DAGs and heartbeats.
    """
    try:
        health = api.call("GET", "/api/v2/monitor/health")
        scheduler = health.get("scheduler") or {}
        if scheduler.get("status") != "healthy" or _at(scheduler.get("latest_scheduler_heartbeat")) < since:
            return {"scheduler"}
        return set(shim_files) - parsed_files(api, since)
    except (OSError, ValueError, KeyError):  # not listening yet, or starting up (HTTPError is an OSError)
        return {"api"}


def parsed_files(api: ApiClient, since: datetime) -> set[str]:
    """Names of DAG files parsed since `since`: with a DAG or with an import error."""
    dags = api.call("GET", "/api/v2/dags?limit=1000")["dags"]
    errors = api.call("GET", "/api/v2/importErrors?limit=1000")["import_errors"]
    parsed = {Path(d["fileloc"]).name for d in dags if _at(d.get("last_parsed_time")) >= since}
    return parsed | {Path(e["filename"]).name for e in errors if _at(e.get("timestamp")) >= since}


def _at(stamp: str | None) -> datetime:
    return datetime.fromisoformat(stamp) if stamp else datetime.min.replace(tzinfo=UTC)


def shim_files(project: Project) -> list[str]:
    """The shims that will define a DAG or an import error on this profile: a pipeline whose `profiles` leave
    the profile out parses to nothing, so it is not waited for."""
    shims = [p for p in project.dags_dir.glob("*.py") if p.read_text().startswith(MARKER)]
    return [shim.name for shim in shims if on_profile(shim, project.profile_name)]


def on_profile(shim: Path, profile: str) -> bool:
    import re

    match = re.search(r"load_dag\(__file__, '([^']+)'\)", shim.read_text())
    if match is None:
        return True
    from akko_orchestrator.spec.yaml_safety import load_file

    try:
        data = load_file(shim.parent / match.group(1))
    except (OSError, ValueError):
        return True  # a broken or missing spec is an import error: wait for it to be reported
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return not isinstance(profiles, list) or profile in profiles


def report_import_errors(api: ApiClient, out: Console) -> None:
    try:
        errors = api.call("GET", "/api/v2/importErrors?limit=1000")["import_errors"]
    except (OSError, ValueError, KeyError):
        return  # only a convenience: the UI lists them too
    for error in errors:
        last = (error.get("stack_trace") or "").strip().splitlines()[-1:] or ["?"]
        # the terminal's width, words whole (a message of Airflow's, never read as markup)
        line = Text(f"pipeline failed to load {Path(error['filename']).name}: {last[0]}")
        line.stylize("red", 0, len("pipeline failed to load"))
        out.print(line)
