"""The executor settings of a profile's `airflow:` section, as AIRFLOW__* variables; and the hostname a Celery
worker reports for its task instances.

LocalExecutor needs nothing more. CeleryExecutor needs the broker (Redis), the result backend (default: Airflow's
metadata DB through Celery's database backend) and the default queue. The broker URL may hold a password: these
variables go to process environments and the stack's 0600 env file, never to a log or the terminal.
"""

from __future__ import annotations

import os

from akko_orchestrator.config.models import AirflowSettings

WORKER_NAME = "AKKO_CELERY_WORKER"  # set per Celery worker: its node name, part of the hostname tasks report


def executor_settings(airflow: AirflowSettings, metadata_db: str | None = None) -> dict[str, str]:
    """AIRFLOW__* variables for the profile's executor; `metadata_db` (Airflow's SQLAlchemy URL) is Celery's
    default result backend."""
    settings = {"AIRFLOW__CORE__EXECUTOR": airflow.executor}
    if airflow.executor != "CeleryExecutor":
        return settings
    celery = airflow.celery
    assert celery is not None  # AirflowSettings requires it for CeleryExecutor
    backend = celery.result_backend or (f"db+{metadata_db}" if metadata_db else None)
    settings.update(
        {
            "AIRFLOW__CELERY__BROKER_URL": celery.broker_url,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": celery.queues[0],
            # The provider's defaults plus a warm-up of each worker (local_airflow/celery_config.py).
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "akko_orchestrator.local_airflow.celery_config.CELERY_CONFIG",
            # Task instances name the worker that ran them (several workers may share one machine).
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "akko_orchestrator.local_airflow.executor.worker_hostname",
        }
    )
    if backend:
        settings["AIRFLOW__CELERY__RESULT_BACKEND"] = backend
    return settings


def worker_hostname() -> str:
    """The machine's name; in a Celery worker's processes prefixed with the worker's name like a Celery node name
    (`akko-worker-1@host`): a task instance's `hostname` then says which of the workers on this machine ran it,
    and as a URL authority (`http://akko-worker-1@host:8793`) it still reaches the machine."""
    from airflow.utils.net import getfqdn

    name = os.environ.get(WORKER_NAME)
    return f"{name}@{getfqdn()}" if name else getfqdn()
