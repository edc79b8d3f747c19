"""Airflow configuration for a project, as AIRFLOW__* environment variables (Airflow reads them at import).

Everything lives under the project's state folder, so a checkout never touches ~/airflow.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from akko_orchestrator.config.private_logs import AIRFLOW_LOG_SETTINGS, log_folder
from akko_orchestrator.config.project import Project
from akko_orchestrator.local_airflow.dag_folders import (
    PATHS_VARIABLE,
    extend_sys_path,
    import_paths,
    link_dag_folders,
)

# Local development tuning (stock Airflow waits ~1 s between dependent tasks and minutes for new files).
DEV_TUNING = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",  # `akko dev` touches a shim when its spec changes
    "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "30",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
}


# Always set: akko's Airflow must parse akko's shims, whatever else the user configured.
ESSENTIAL = ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AKKO_PROJECT_DIR", "AKKO_PROFILE", PATHS_VARIABLE)
_APPLIED: dict[str, str] = {}  # what apply() set in os.environ (see user_environ)
DB_MARKER = ".akko-db-ready"  # under the Airflow home: the schema revision each metadata DB was left at
_REVISION_QUERY = "SELECT version_num FROM alembic_version"
LOCAL_SETTINGS_MARKER = "# Written by AKKO Orchestrator"
LOCAL_SETTINGS = f"""{LOCAL_SETTINGS_MARKER}; delete this line to keep your own version.
# Preload the pipeline compiler in every Airflow process: the dag-processor forks one child per pipeline shim,
# and each child would otherwise import it again (measured: ~40 ms per pipeline; see benchmarks/bench_parse.py).
try:
    import akko_orchestrator.compiler.dag_builder  # noqa: F401
    import akko_orchestrator.compiler.entry  # noqa: F401
except ImportError:  # Airflow without AKKO installed: nothing to preload
    pass
# AKKO's guardrails (docs/guardrails.md): cluster policies on every DAG file, Iceberg commits guarded in tasks.
try:
    from akko_orchestrator.guardrails.iceberg import install as _install_iceberg_guard
    from akko_orchestrator.guardrails.policies import dag_policy, get_dagbag_import_timeout, task_policy

    _install_iceberg_guard()
    __all__ = ["dag_policy", "get_dagbag_import_timeout", "task_policy"]
except ImportError:
    pass
# Hand-written DAG folders (akko.yaml `dags`) on sys.path, as Airflow puts its DAG bundle's folder: a helper module
# beside a DAG file is importable by its plain name in the dag-processor, task processes and workers.
try:
    from akko_orchestrator.local_airflow.dag_folders import extend_sys_path as _extend_sys_path

    _extend_sys_path()
except ImportError:
    pass
"""


def airflow_environment(project: Project) -> dict[str, str]:
    from akko_orchestrator.lineage.settings import airflow_settings as lineage_settings
    from akko_orchestrator.local_airflow.auth import auth_settings, sync_team_bundles, team_mode
    from akko_orchestrator.observability.settings import airflow_settings as metrics_settings

    home = project.airflow_home
    # hand-written DAGs beside the shims, for every Airflow AKKO starts (run, dev, stack)
    link_dag_folders(project)
    if team_mode(project):
        sync_team_bundles(project)  # the per-team DAG bundles' shim folders (multi-team mode)
    log_folder(home / "logs")  # Airflow's task, dag-processor and `akko dev` logs, private (also older ones)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__XCOM_BACKEND": "akko_orchestrator.guardrails.xcom.GuardedXCom",  # xcom_max_bytes
        # SQLite locks the whole file: wait up to 30 s for a lock instead of pysqlite's 5 s, so concurrent task
        # runs under `akko dev` do not turn an API call into "database is locked" (seen as an HTTP 500).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AKKO_AIRFLOW_DB", f"sqlite:///{home / 'airflow.db'}?timeout=30"
        ),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        **AIRFLOW_LOG_SETTINGS,  # task logs created 0600 in 0700 folders
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AKKO_PROJECT_DIR": str(project.root),
        "AKKO_PROFILE": project.profile_name,
        PATHS_VARIABLE: os.pathsep.join(str(p) for p in import_paths(project)),  # see the local settings
        **auth_settings(project),  # a profile's `airflow.auth: keycloak` (none for `simple`)
        **metrics_settings(project),  # akko.yaml `metrics:`: Airflow's StatsD (and so AKKO's metrics)
        **lineage_settings(project),  # akko.yaml `lineage:`: OpenLineage, in every Airflow AKKO starts
    }


def apply(project: Project, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Set Airflow's environment in this process: essential keys and `extra` always, the rest only where the user
    has not set them. If Airflow is already imported, its live configuration is updated too (except the DB)."""
    wanted = {
        **airflow_environment(project),
        **shared_secrets(project.airflow_home),
        **(extra or {}),
    }
    for key, value in wanted.items():
        if key in ESSENTIAL or key in (extra or {}) or key not in os.environ:
            os.environ[key] = value
            _APPLIED[key] = value
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    write_local_settings(home)
    extend_sys_path()  # the local settings do it too, but an Airflow imported already does not run them again
    _sync_loaded_config()
    return {key: os.environ[key] for key in wanted}


def user_environ() -> dict[str, str]:
    """This process's environment without the values `apply` put there: what the user set. Airflow processes
    started for another project (the stack's) must not inherit the Airflow home, folders or password files of a
    project this process ran before."""
    return {key: value for key, value in os.environ.items() if _APPLIED.get(key) != value}


def shared_secrets(airflow_home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Keys every component must share, generated once per state dir; those `environ` (default: this process's
    environment) does not set already.

    Airflow otherwise generates them when a process first writes airflow.cfg; components started together on a
    fresh home would each pick their own, and the Execution API would reject the scheduler's task tokens.
    """
    path = airflow_home / "akko-dev-secrets.json"
    if path.is_file():
        stored = json.loads(path.read_text())
    else:
        stored = {
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
        write_private(path, json.dumps(stored, indent=2) + "\n")
    given = os.environ if environ is None else environ
    return {k: v for k, v in stored.items() if k not in given}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (keys, passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with a wider mode
    with os.fdopen(fd, "w") as file:
        file.write(text)


def write_local_settings(home: Path) -> None:
    target = home / "config" / "airflow_local_settings.py"
    if target.exists() and not target.read_text().startswith(LOCAL_SETTINGS_MARKER):
        return  # the user's own local settings
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text() != LOCAL_SETTINGS:
        target.write_text(LOCAL_SETTINGS)


def _sync_loaded_config() -> None:
    """An already-imported Airflow read its configuration at import; push our values into it."""
    if "airflow.configuration" not in sys.modules:
        return
    from airflow.configuration import conf

    for key, value in os.environ.items():
        if key.startswith("AIRFLOW__") and key.count("__") == 2 and "SQL_ALCHEMY_CONN" not in key:
            _, section, option = key.split("__")
            if not conf.has_section(section.lower()):  # a provider's section Airflow has not loaded
                conf.add_section(section.lower())
            conf.set(section.lower(), option.lower(), value)
    if "airflow.settings" in sys.modules:
        from airflow import settings

        settings.DAGS_FOLDER = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]  # read once at import; bundles use it


def ensure_database() -> None:
    """Create or upgrade Airflow's metadata DB once per Airflow version and DB (see database_ready); then the
    project's teams in multi-team mode (local_airflow/auth.py), which its DAG bundles need before they sync."""
    from airflow import settings
    from airflow.utils import db

    from akko_orchestrator.local_airflow.auth import ensure_teams

    home = Path(os.environ["AIRFLOW_HOME"])
    url, airflow_version = settings.SQL_ALCHEMY_CONN, version("apache-airflow")
    if database_ready(url, airflow_version, home):
        ensure_teams()
        return
    db.initdb()  # creates from the ORM when empty, else runs the migrations
    from sqlalchemy import text

    with settings.engine.connect() as conn:
        revision = ",".join(sorted(conn.execute(text(_REVISION_QUERY)).scalars()))
    marks = _read_marker(home)
    marks[_marker_key(url, airflow_version)] = revision
    write_private(home / DB_MARKER, json.dumps(marks, indent=2, sort_keys=True) + "\n")
    ensure_teams()


def database_ready(url: str, airflow_version: str, home: Path) -> bool:
    """Whether this Airflow version already created or upgraded the metadata DB at `url`, checked in milliseconds
    and without importing Airflow or SQLAlchemy.

    The marker under the Airflow home records, per Airflow version and DB, the schema revision ensure_database()
    left; the DB must still be at it, since a DB outside the Airflow home (the stack's PostgreSQL, AKKO_AIRFLOW_DB)
    can be dropped and made again behind the marker's back. Several DBs can share one home (the `local` and
    `cluster` profiles share a state folder). The marker names a DB by a digest of its URL: the URL may hold a
    password.
    """
    recorded = _read_marker(home).get(_marker_key(url, airflow_version))
    if recorded is None:
        return False
    reader = _REVISION_READERS.get(url.partition(":")[0].partition("+")[0])
    return reader is None or _current_revision(reader, url) == recorded  # other DBs: the marker is trusted


def _marker_key(url: str, airflow_version: str) -> str:
    return f"{airflow_version} {hashlib.sha256(url.encode()).hexdigest()[:32]}"


def _read_marker(home: Path) -> dict[str, str]:
    try:
        marks = json.loads((home / DB_MARKER).read_text())
    except (OSError, ValueError):  # none yet, or the plain-text marker of earlier versions
        return {}
    return marks if isinstance(marks, dict) else {}


def _current_revision(reader: Callable[[str], Any], url: str) -> str | None:
    """The DB's Alembic revision(s) through its plain driver; None if the DB cannot say (missing, unreachable)."""
    try:
        conn = reader(url)
    except Exception:  # noqa: BLE001 - any driver error means: not known to be ready, migrate (which reports it)
        return None
    try:
        cursor = conn.cursor()
        cursor.execute(_REVISION_QUERY)
        return ",".join(sorted(row[0] for row in cursor.fetchall()))
    except Exception:  # noqa: BLE001 - e.g. no alembic_version table: an empty DB
        return None
    finally:
        conn.close()


def _sqlite(url: str) -> Any:
    import sqlite3

    path = url.partition(":///")[2].partition("?")[0]  # SQLAlchemy: everything after sqlite:/// is the path
    if not path or path == ":memory:" or not Path(path).is_file():
        raise FileNotFoundError(path)
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def _postgres(url: str) -> Any:
    import psycopg2  # Airflow's PostgreSQL driver; imports in milliseconds, SQLAlchemy in most of a second

    parts = urlsplit(url)  # libpq takes the same URL without SQLAlchemy's +driver
    return psycopg2.connect(urlunsplit(("postgresql", *parts[1:])), connect_timeout=10)


_REVISION_READERS: dict[str, Callable[[str], Any]] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
}
