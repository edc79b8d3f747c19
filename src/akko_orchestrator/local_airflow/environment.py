"""Airflow configuration for a project, as AIRFLOW__* environment variables (Airflow reads them at import).

Everything lives under the project's state folder, so a checkout never touches ~/airflow.
"""

from __future__ import annotations

import os
from pathlib import Path

from akko_orchestrator.config.project import Project

# Local development tuning (stock Airflow waits ~1 s between dependent tasks and minutes for new files).
DEV_TUNING = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.05",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "30",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
}


def airflow_environment(project: Project) -> dict[str, str]:
    home = project.airflow_home
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AKKO_AIRFLOW_DB", f"sqlite:///{home / 'airflow.db'}"
        ),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AKKO_PROJECT_DIR": str(project.root),
        "AKKO_PROFILE": project.profile_name,
    }
    return env


def apply(project: Project, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Set the environment in this process before Airflow is imported; returns what was set."""
    env = {**airflow_environment(project), **(extra or {})}
    for key, value in env.items():
        if (
            key.startswith("AIRFLOW__")
            and key in os.environ
            and os.environ[key] != value
            and key not in (extra or {})
        ):
            continue  # the user's own AIRFLOW__* settings win
        os.environ[key] = value
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def ensure_database() -> None:
    """Create or upgrade Airflow's metadata DB once per Airflow version and DB (a marker file skips the check)."""
    import airflow
    from airflow import settings
    from airflow.utils import db

    marker = Path(os.environ["AIRFLOW_HOME"]) / ".akko-db-ready"
    stamp = f"{airflow.__version__} {settings.SQL_ALCHEMY_CONN}"
    if marker.is_file() and marker.read_text() == stamp:
        return
    db.initdb()  # creates from the ORM when empty, else runs the migrations
    marker.write_text(stamp)
