"""CeleryExecutor settings from a profile's `airflow:` section, the stack's `--celery` services (built, not started)
and Redis' configuration (the password only in its 0600 file)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from akko_orchestrator.config.models import AirflowSettings, CelerySettings
from akko_orchestrator.config.project import load_project
from akko_orchestrator.local_airflow.executor import WORKER_NAME, executor_settings, worker_hostname
from akko_orchestrator.stack.base import StackPaths
from akko_orchestrator.stack.manager import StackOptions, build_stack
from akko_orchestrator.stack.redis import RedisService, _config


def test_local_executor_needs_nothing_more() -> None:
    assert executor_settings(AirflowSettings()) == {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}


def test_celery_executor_settings() -> None:
    airflow = AirflowSettings(
        executor="CeleryExecutor",
        celery=CelerySettings(broker_url="redis://:pw@127.0.0.1:6390/0", queues=["akko", "default"]),
    )
    settings = executor_settings(airflow, "postgresql+psycopg2://airflow:pw@127.0.0.1:5432/airflow")
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert settings["AIRFLOW__CELERY__BROKER_URL"] == "redis://:pw@127.0.0.1:6390/0"
    assert (
        settings["AIRFLOW__CELERY__RESULT_BACKEND"]
        == "db+postgresql+psycopg2://airflow:pw@127.0.0.1:5432/airflow"
    )
    assert settings["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "akko"
    explicit = AirflowSettings(
        executor="CeleryExecutor",
        celery=CelerySettings(broker_url="redis://r/0", result_backend="redis://r/1"),
    )
    assert executor_settings(explicit, "postgresql://x")["AIRFLOW__CELERY__RESULT_BACKEND"] == "redis://r/1"


def test_a_workers_tasks_name_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKER_NAME, raising=False)
    plain = worker_hostname()
    monkeypatch.setenv(WORKER_NAME, "celery-worker-2")
    assert worker_hostname() == f"celery-worker-2@{plain}"


def test_stack_up_celery_adds_redis_and_airflow_after_postgres(project_dir: Path) -> None:
    default = [s.name for s in build_stack(load_project()).services]
    assert default[:3] == ["postgres", "trino", "spark"] and "redis" not in default
    names = [s.name for s in build_stack(load_project(), StackOptions(engines=False, celery=True)).services]
    assert names == [
        "postgres",
        "redis",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "celery-worker-1",
        "celery-worker-2",
        "airflow-triggerer",
    ]
    statuses = build_stack(load_project(), StackOptions(celery=True)).status()
    assert not any(s.running for s in statuses)


def test_redis_password_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    redis = RedisService(StackPaths(state=tmp_path / "stack", cache=tmp_path / "cache"))
    password = redis.password()
    assert len(password) >= 24 and redis.password() == password
    assert stat.S_IMODE((tmp_path / "stack" / "redis" / "password").stat().st_mode) == 0o600
    config = _config(6390, tmp_path, password)
    assert f"requirepass {password}" in config and "bind 127.0.0.1" in config
    assert redis.url(6390) == f"redis://:{password}@127.0.0.1:6390/0"
