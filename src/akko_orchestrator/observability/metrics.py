"""AKKO's own metrics, sent where Airflow's go: through the Task SDK's stats client (`airflow.sdk.observability
.stats`), which Airflow's task runner configures from `[metrics]` in every task process (and
settings.start_airflow_stats() in `akko run`'s). So they reach the same StatsD receiver with Airflow's prefix,
obey its allow and block lists, and cost nothing when Airflow's metrics are off.

StatsD has no labels: the pipeline, table and the like are name components, in the style of Airflow's own
(`dagrun.duration.success.<dag_id>`), that deploy/statsd/akko-mappings.yaml turns into Prometheus labels.
Each is one dot-free component (a dbt step's `<step>.<model>` becomes `<step>__<model>`, as Airflow writes a
task group's task id). Under Airflow's prefix (`airflow.` by default):

  akko.rows_written.<pipeline>.<namespace>.<table>          counter  rows of the data a step committed
  akko.bytes_written.<pipeline>.<namespace>.<table>         counter  size of the data files it added
  akko.files_added.<pipeline>.<namespace>.<table>           counter  data files it added
  akko.commits.<pipeline>.<namespace>.<table>               counter  writes committed to `main`
  akko.commit_conflicts.<pipeline>.<namespace>.<table>.<outcome>
                                                            counter  `main` moved under a write: `replayed`
                                                                     on top, or `failed` (the step failed)
  akko.checks_run.<pipeline>.<namespace>.<table>            counter  checks judged on an audited write
  akko.check_failures.<pipeline>.<namespace>.<table>.<severity>.<check>
                                                            counter  checks that did not pass (`error`:
                                                                     blocks the publish; `warn`: reported)
  akko.publishes_blocked.<pipeline>.<namespace>.<table>     counter  audited writes kept off `main`
  akko.step_duration.<pipeline>.<step>                      timer    a step task's execute, in ms
  akko.steps.<pipeline>.<step>.<outcome>                    counter  step tasks ended: `success`, `failed`

Emitting never fails or slows a step: UDP datagrams, fire-and-forget (the statsd client ignores socket errors),
and anything else is logged at debug level and dropped.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from akko_orchestrator.lakehouse.writer import WriteResult
    from akko_orchestrator.quality.report import CheckReport
    from akko_orchestrator.runtime.context import StepContext

log = logging.getLogger("akko.metrics")

PREFIX = "akko"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SNAPSHOTS_SUMMED = 10  # a write commits one to three snapshots (overwrite: delete + append)


def component(value: str) -> str:
    """One name component: no dot (a dot would split it in two), only what every StatsD backend accepts."""
    return _UNSAFE.sub("_", value.replace(".", "__")) or "_"


def metric_name(metric: str, *parts: str) -> str:
    return ".".join([PREFIX, metric, *(component(part) for part in parts)])


def table_parts(pipeline: str, table: str) -> tuple[str, str, str]:
    namespace, _, name = table.partition(".")
    return pipeline, namespace, name


def table_written(ctx: StepContext, result: WriteResult) -> None:
    """A write committed to `main` (directly, or by publishing its audit branch): rows, bytes, files, commit."""
    if not enabled():
        return
    parts = table_parts(ctx.pipeline_id, result.table)
    _incr(metric_name("rows_written", *parts), result.rows)
    _incr(metric_name("commits", *parts), 1)
    try:
        added_bytes, added_files = _added_files(ctx, result)
    except Exception:  # noqa: BLE001 - a metric never fails a step
        log.debug("no file statistics for %s", result.table, exc_info=True)
        return
    _incr(metric_name("bytes_written", *parts), added_bytes)
    _incr(metric_name("files_added", *parts), added_files)


def commit_conflict(ctx: StepContext, table: str, outcome: str) -> None:
    """`main` moved under a write: `replayed` on top of it, or `failed`."""
    _incr(metric_name("commit_conflicts", *table_parts(ctx.pipeline_id, table), outcome), 1)


def checks_judged(ctx: StepContext, report: CheckReport) -> None:
    """An audited write's checks: how many ran, which did not pass and at what severity, a blocked publish."""
    parts = table_parts(ctx.pipeline_id, report.table)
    _incr(metric_name("checks_run", *parts), len(report.results))
    for result in report.results:
        if not result.passed:
            _incr(metric_name("check_failures", *parts, result.severity, result.name), 1)
    if not report.passed:
        _incr(metric_name("publishes_blocked", *parts), 1)


def step_finished(pipeline: str, step: str, seconds: float, outcome: str) -> None:
    """A step's task ended (`success` or `failed`) after `seconds` of execute."""
    _send("timing", metric_name("step_duration", pipeline, step), seconds * 1000.0)
    _incr(metric_name("steps", pipeline, step, outcome), 1)


def enabled() -> bool:
    """Whether Airflow sends metrics at all (then facts that cost a catalog read are worth computing)."""
    try:
        from airflow.sdk.configuration import conf

        return any(
            conf.getboolean("metrics", option, fallback=False)
            for option in ("statsd_on", "statsd_datadog_enabled", "otel_on")
        )
    except Exception:  # noqa: BLE001
        log.debug("metrics configuration unreadable", exc_info=True)
        return False


def _added_files(ctx: StepContext, result: WriteResult) -> tuple[int, int]:
    """Bytes and data files the write added: the snapshots of this run's write, from the committed one back."""
    from akko_orchestrator.lakehouse.wap import identity_matches

    table = ctx.catalog.load_table(result.table)
    snapshot = table.metadata.snapshot_by_id(result.snapshot_id) if result.snapshot_id else None
    added_bytes = added_files = 0
    for _ in range(_SNAPSHOTS_SUMMED):
        if snapshot is None or not identity_matches(snapshot, ctx.snapshot_properties):
            break
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        added_bytes += int(summary.get("added-files-size", 0))
        added_files += int(summary.get("added-data-files", 0))
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    return added_bytes, added_files


def _incr(stat: str, count: int) -> None:
    _send("incr", stat, count)


def _send(kind: str, stat: str, value: float) -> None:
    try:
        from airflow.sdk.observability import stats

        if kind == "incr":
            stats.incr(stat, count=int(value))
        else:
            stats.timing(stat, value)
    except Exception:  # noqa: BLE001 - a metric never fails a step
        log.debug("metric %s not sent", stat, exc_info=True)
