"""The callback of a table's deadline (`deadline: {by: "06:00", table: demo.sales}`), awaited by Airflow's
triggerer when the run's deadline passes with the run unfinished.

Airflow's deadlines belong to DAG runs, so the run still going does not mean the table is late: the callback
first reads the table's `main` history for a snapshot of this run (every snapshot AKKO publishes carries
`akko.pipeline` and `akko.run-id`, see lakehouse/wap.py). Published: nothing is sent, the table met its deadline.
Not published: `deadline_missed` names the table. The catalog unreadable: the alert goes all the same, saying the
table's state is unknown (a broken catalog must not silence a deadline).

The triggerer gives only the callback's JSON kwargs and the scheduler's simple context (the run's id and state):
the project is loaded from the spec file's folder, as a task does (else from AKKO_PROJECT_DIR); catalog I/O runs
in a worker thread so the triggerer's event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from akko_orchestrator.alerts.messages import table_deadline_message
from akko_orchestrator.alerts.notify import Target, send
from akko_orchestrator.errors import AkkoError

log = logging.getLogger(__name__)
PUBLISHED = "published"


async def table_deadline_missed(
    *,
    pipeline: str,
    deadline: str,
    table: str,
    spec: str,
    targets: list[Target],
    context: dict[str, Any] | None = None,
) -> int:
    """Sends `deadline_missed` for `table` unless this run already published it; returns how many targets got
    the alert."""
    run = (context or {}).get("dag_run") or {}
    run_id = run.get("dag_run_id") or run.get("run_id")
    state = await asyncio.to_thread(table_state, spec, table, pipeline, run_id)
    if state == PUBLISHED:
        log.info("%s was published by run %s: its deadline (%s) was met", table, run_id, deadline)
        return 0
    message = table_deadline_message(pipeline, deadline, table, state, context)
    return await asyncio.to_thread(send, targets, message)


def table_state(spec: str, table: str, pipeline: str, run_id: str | None) -> str:
    """`published` (a snapshot of this run is in main's history), `not published ...`, or `state unknown ...`."""
    if not run_id:
        return "state unknown: the deadline's context names no run"
    try:
        from pyiceberg.exceptions import NoSuchTableError

        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.lakehouse.catalog import open_catalog

        # the spec's folder, as a task does; absent where the triggerer's copy of the DAGs lives elsewhere
        folder = Path(spec).parent
        catalog = open_catalog(load_project(folder if folder.is_dir() else None))  # else AKKO_PROJECT_DIR
        try:
            iceberg_table = catalog.load_table(table)
        except NoSuchTableError:
            return "not published by this run: the table does not exist yet"
        published = published_in_run(iceberg_table, pipeline, run_id)
    except Exception as exc:  # noqa: BLE001 - whatever broke, the alert still goes out
        # AKKO's own errors hold no secret; a driver's may (a catalog URL), so only its kind is told
        reason = str(exc) if isinstance(exc, AkkoError) else type(exc).__name__
        log.warning("cannot read %s in the catalog for its deadline: %s", table, reason)
        return f"state unknown: the catalog could not be read ({reason})"
    return PUBLISHED if published else "not published by this run"


def published_in_run(table: Any, pipeline: str, run_id: str) -> bool:
    """Whether `main`'s history holds a snapshot this pipeline committed in this run (any step, any try): the
    identity of lakehouse/wap.py's `find_published`, without the step (a dbt model's step is `step.model`)."""
    from pyiceberg.table.snapshots import ancestors_of

    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get("akko.pipeline") == pipeline and props.get("akko.run-id") == run_id:
            return True
    return False
