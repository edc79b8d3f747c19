"""akko.yaml's `metrics:` as Airflow's `[metrics]` settings (environment variables), for every Airflow process AKKO
starts: `akko run` / `akko demo` in this process, `akko dev`'s components, the stack's Celery Airflow (all take
them from local_airflow/environment.py's `airflow_environment`). A deployed Airflow gets the same from its own
configuration (deploy/helm/values-common.yaml: the chart's `statsd.enabled`).

AKKO's own metrics (observability/metrics.py) go through Airflow's StatsD client, so they follow these settings
(and Airflow's `metrics_allow_list` / `metrics_block_list`) wherever Airflow runs a task.

The model is imported by config/models.py: it depends on pydantic only (no import circle with config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from akko_orchestrator.config.project import Project

DEFAULT_PREFIX = "airflow"  # Airflow's own default, and what its Helm chart's statsd-exporter mappings expect


class StatsdSettings(BaseModel):
    """Where Airflow's StatsD client sends every metric (UDP): a statsd_exporter, a StatsD server, an agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="The StatsD receiver's host.")
    port: int = Field(8125, ge=1, le=65535, description="Its UDP port (statsd_exporter's default is 9125).")
    prefix: str = Field(
        DEFAULT_PREFIX,
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="The first name component of every metric, Airflow's and AKKO's (`airflow.akko.*`).",
    )


class MetricsSettings(BaseModel):
    """akko.yaml `metrics:`. Without `statsd`, AKKO leaves Airflow's `[metrics]` as configured (off by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    statsd: StatsdSettings | None = Field(
        None, description="Turns on Airflow's StatsD metrics and AKKO's own; `off` (or absent): not set."
    )

    @field_validator("statsd", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return None if value is False or value == "off" else value  # YAML 1.1 reads a bare `off` as false


def airflow_settings(project: Project) -> dict[str, str]:
    """The AIRFLOW__METRICS__* variables for the project's `metrics:` (none when StatsD is not configured). A
    user's own AIRFLOW__METRICS__* values win over these, as for every Airflow setting AKKO makes."""
    statsd = project.config.metrics.statsd
    if statsd is None:
        return {}
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": statsd.host,
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": statsd.prefix,
    }


def start_airflow_stats() -> None:
    """Configure Airflow's metrics client in this process from `[metrics]` as it is now.

    Airflow's scheduler, dag-processor, API server and task runner each do this when they start; `dag.test()`
    (`akko run`, `akko demo`) goes through none of them: its DAG run metrics would be dropped, and its task
    metrics (AKKO's too) would depend on which import happened to configure the client first. Airflow keeps two
    copies of the client: Airflow core's (DAG runs, the scheduling loop) and the Task SDK's (task instances, and
    AKKO's metrics from task code). Both are set; with StatsD off they send nothing.
    """
    from airflow.configuration import conf
    from airflow.observability import stats as core_stats
    from airflow.observability.metrics import stats_utils as core_factory
    from airflow.sdk.observability import stats as sdk_stats
    from airflow.sdk.observability.metrics import stats_utils as sdk_factory

    legacy = conf.getboolean("metrics", "legacy_names_on", fallback=True)
    core_stats.initialize(factory=core_factory.get_stats_factory(), export_legacy_names=legacy)
    sdk_stats.initialize(factory=sdk_factory.get_stats_factory(), export_legacy_names=legacy)
