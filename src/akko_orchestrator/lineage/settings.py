"""akko.yaml's `lineage:` as Airflow's `[openlineage]` configuration (environment variables, set by `akko run`,
`akko dev` and read the same way by a deployed Airflow).

Every transport but `off` is composed with a `file` transport appending each event to the project's local event
log, which `akko lineage` reads. A consumer that is down or slow costs at most `timeout` per event and one retry:
the provider logs a warning and the task goes on (lineage never fails a run). The API key is resolved here, into
this process' environment only: it is never written to a file (and, resolved, it is registered with Airflow's
secrets masker). The event log is private (0600; its folder 0700 in the state folder): an event may quote an
error's text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from akko_orchestrator.config.private_logs import open_private, private_dir
from akko_orchestrator.config.project import Project

LOG_NAME = Path("lineage") / "events.jsonl"


def event_log(project: Project) -> Path:
    configured = project.config.lineage.log
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else project.root / path
    return project.state_dir / LOG_NAME


def airflow_settings(project: Project) -> dict[str, str]:
    """The AIRFLOW__OPENLINEAGE__* variables for the project's `lineage:` settings."""
    settings = project.config.lineage
    if settings.transport == "off":
        return {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}
    log = event_log(project)
    if log == project.state_dir / LOG_NAME:
        private_dir(log.parent)  # a folder of the project's own choosing is left as it is
    open_private(log).close()  # the provider's file transport appends to it
    local = {"type": "file", "log_file_path": str(log), "append": True}
    transport = local
    if settings.transport in ("http", "console"):
        consumer = _http(project) if settings.transport == "http" else {"type": "console"}
        transport = {
            "type": "composite",
            "transports": {"consumer": consumer, "local": local},
            "continue_on_failure": True,
        }
    return {
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": settings.namespace,
        "AIRFLOW__OPENLINEAGE__DISABLE_SOURCE_CODE": "True",
        # A thread, not a fork of the whole task process, per event; waited for at most this long.
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": str(math.ceil(2 * settings.timeout) + 5),
    }


def _http(project: Project) -> dict:
    settings = project.config.lineage
    transport: dict = {
        "type": "http",
        "url": str(settings.url).rstrip("/"),
        "endpoint": settings.endpoint.lstrip("/"),
        "timeout": settings.timeout,
        "retry": {"total": 1, "backoff_factor": 0.2, "status_forcelist": [500, 502, 503, 504]},
    }
    if settings.api_key is not None:
        transport["auth"] = {"type": "api_key", "apiKey": settings.api_key.resolve().get_secret_value()}
    return transport
