"""AKKO's Celery configuration (`[celery] celery_config_options`): the provider's defaults, plus a warm-up of every
Celery worker before its pool forks.

Airflow's supervisor forks each task's process from a worker's pool process. Under LocalExecutor that process
descends from the scheduler, which has long loaded Airflow's plugins and the task runner; a Celery worker's has
not, so every task paid ~5 s of imports (plugins, DAG bundles, task runner; measured on 2 cores in
benchmarks/bench_executors.py) before its first line ran. `worker_init` runs in the worker's main process before
the pool forks, so every task process inherits those imports, as under LocalExecutor.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


@worker_init.connect
def warm_up(**_: Any) -> None:
    """Import what every task process needs first (never fails the worker: a task would import it anyway)."""
    try:
        import airflow.sdk.execution_time.task_runner  # noqa: F401 - DAG bundles, the task runner
        from airflow.sdk.plugins_manager import integrate_macros_plugins

        integrate_macros_plugins()  # loads the plugins (entry points: slow), as each task's start-up does
        import akko_orchestrator.operators.steps  # noqa: F401 - AKKO's operators, imported by every AKKO task
    except Exception:  # noqa: BLE001, S110 - a warm-up only
        pass
