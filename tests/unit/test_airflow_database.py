"""The metadata-DB marker `akko dev` and `akko run` check before starting Airflow (environment.database_ready)."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from akko_orchestrator.local_airflow import environment


def _airflow_db(path: Path, revision: str) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    return f"sqlite:///{path}?timeout=30"


def _mark(home: Path, url: str, version: str, revision: str) -> None:
    marks = environment._read_marker(home)
    marks[environment._marker_key(url, version)] = revision
    environment.write_private(home / environment.DB_MARKER, json.dumps(marks))


def test_ready_only_for_the_marked_version_and_a_db_still_at_the_marked_revision(tmp_path: Path) -> None:
    url = _airflow_db(tmp_path / "airflow.db", "abc123")
    assert not environment.database_ready(url, "3.3.2", tmp_path)  # no marker yet
    _mark(tmp_path, url, "3.3.2", "abc123")
    assert environment.database_ready(url, "3.3.2", tmp_path)
    assert not environment.database_ready(url, "3.4.0", tmp_path)  # another Airflow: migrate
    (tmp_path / "airflow.db").unlink()  # the DB made again behind the marker's back
    _airflow_db(tmp_path / "airflow.db", "000000")
    assert not environment.database_ready(url, "3.3.2", tmp_path)
    (tmp_path / "airflow.db").unlink()
    assert not environment.database_ready(url, "3.3.2", tmp_path)


def test_each_db_of_a_home_has_its_own_entry_and_no_url_is_written(tmp_path: Path) -> None:
    local = _airflow_db(tmp_path / "airflow.db", "abc123")
    cluster = "postgresql+psycopg2://airflow:s3cret-pw@127.0.0.1:9/airflow"  # nothing listens on port 9
    _mark(tmp_path, local, "3.3.2", "abc123")
    _mark(tmp_path, cluster, "3.3.2", "abc123")
    assert environment.database_ready(
        local, "3.3.2", tmp_path
    )  # the other profile's entry did not replace it
    assert not environment.database_ready(cluster, "3.3.2", tmp_path)  # unreachable: not known to be ready
    marker = tmp_path / environment.DB_MARKER
    assert "s3cret-pw" not in marker.read_text() and "127.0.0.1" not in marker.read_text()
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600


def test_a_marker_of_an_earlier_version_is_ignored_and_private_files_become_private(tmp_path: Path) -> None:
    url = _airflow_db(tmp_path / "airflow.db", "abc123")
    marker = tmp_path / environment.DB_MARKER
    marker.write_text(f"3.3.2 {url}")  # the plain-text marker earlier versions wrote
    marker.chmod(0o644)
    assert not environment.database_ready(url, "3.3.2", tmp_path)
    _mark(tmp_path, url, "3.3.2", "abc123")
    assert environment.database_ready(url, "3.3.2", tmp_path)
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600


def test_user_environ_leaves_out_what_apply_set_for_a_project(tmp_path: Path, monkeypatch) -> None:
    """Airflow processes started later for another project (the stack's Celery Airflow) must not inherit the
    home, folders and password file AKKO set here for an earlier project; the user's own settings stay."""
    import os

    from akko_orchestrator.config.project import load_project

    (tmp_path / "akko.yaml").write_text("project: p\n")
    for key in [k for k in os.environ if k.startswith(("AIRFLOW_", "AKKO_"))]:  # what earlier tests left
        monkeypatch.delenv(key)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "7")  # the user's own
    monkeypatch.setattr(environment, "_APPLIED", {})
    # os.environ only: an Airflow other unit tests imported keeps its configuration.
    monkeypatch.setattr(environment, "_sync_loaded_config", lambda: None)
    applied = environment.apply(load_project(tmp_path))
    user = environment.user_environ()
    assert user["AIRFLOW__CORE__PARALLELISM"] == "7"
    for key in (
        "AIRFLOW_HOME",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
        "AIRFLOW__API_AUTH__JWT_SECRET",
    ):
        assert key in applied and key not in user, key
    stored = environment.shared_secrets(tmp_path / "state" / "airflow", user)
    assert stored["AIRFLOW__API_AUTH__JWT_SECRET"] == applied["AIRFLOW__API_AUTH__JWT_SECRET"]
