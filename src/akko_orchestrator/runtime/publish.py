"""Every table write of a step goes through here: exactly-once, then write-audit-publish when it has checks.

1. If `main`'s history holds a snapshot of this pipeline, step and run (an earlier try published, then the task
   was killed or failed before Airflow recorded success), nothing is written again.
2. Without checks the write is one commit on `main` (atomic: a kill before it leaves the table unchanged).
3. With checks: write to the step's audit branch (`main` does not move), run the checks against the branch head,
   record them in the history table, then publish (fast-forward `main`) only if no `error` check failed. A kill
   at any point before the publish commit leaves `main` unchanged and the next try starts over (the branch is
   cut again from `main`); a kill after it is case 1.
4. If another writer moved `main` meanwhile, the write is replayed on top of it and checked again (append,
   merge); an overwrite is not replayed over someone else's data: the step fails saying who wrote.
"""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.wap import MainMoved, audit_branch, find_published, publish, verify_branch
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.observability import metrics
from akko_orchestrator.quality.report import CheckReport, ChecksFailed
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.runtime.failpoints import failpoint
from akko_orchestrator.spec.models import Check, Output

if TYPE_CHECKING:
    import pyarrow as pa

REPLAYS = 20  # writes replayed because other writers kept moving main
BACKOFF = 0.2  # seconds, doubled per replay up to BACKOFF_MAX, with jitter: racing writers spread out
BACKOFF_MAX = 3.0

Writer = Callable[[str | None], WriteResult]  # writes to the given branch (None: main), returns what it wrote


def guarded_write(ctx: StepContext, output: Output, checks: list[Check], write: Writer) -> WriteResult:
    if ctx.guard is not None:  # every writer (pyiceberg, Spark, a Trino stage) passes here first
        ctx.guard.check_write(output.table)
    previous = already_published(ctx, output)
    if previous is not None:
        ctx.lineage.wrote(
            output.table, previous.snapshot_id, rows=previous.rows, mode=output.mode, already_published=True
        )
        return previous
    if not checks:
        written = write(None)
        failpoint("after-write")
        ctx.lineage.wrote(output.table, written.snapshot_id, rows=written.rows, mode=output.mode)
        metrics.table_written(ctx, written)
        return written
    branch = audit_branch(ctx.pipeline_id, ctx.step_id)
    for attempt in range(1, REPLAYS + 1):
        ctx.write_id = uuid.uuid4().hex[:16]
        try:
            written = write(branch)
            verify_branch(
                ctx.catalog.load_table(output.table),
                branch,
                written.snapshot_id,
                written.base_snapshot_id,
                ctx.write_id,
            )
        except MainMoved as moved:
            log.warning("%s: writing again (attempt %d)", moved, attempt + 1)
            metrics.commit_conflict(ctx, output.table, "replayed")
            _back_off(attempt)
            continue
        finally:
            ctx.write_id = None
        failpoint("after-write")
        report = audit(ctx, output, checks, written)
        failpoint("after-check")
        facts = {
            "rows": written.rows,
            "mode": output.mode,
            "branch": branch,
            "assertions": report.assertions(),
        }
        if not report.passed:
            ctx.lineage.wrote(output.table, written.snapshot_id, published=False, **facts)
            raise ChecksFailed(report, branch)
        try:
            snapshot_id = publish(
                ctx.catalog, output.table, branch, written.base_snapshot_id, written.snapshot_id
            )
        except MainMoved as moved:
            if output.mode == "overwrite":
                metrics.commit_conflict(ctx, output.table, "failed")
                raise AkkoError(
                    f"{moved}; an overwrite is not replayed over another writer's data: run this step again "
                    "once it is done"
                ) from None
            log.warning("%s: replaying this step's write on top of it (attempt %d)", moved, attempt + 1)
            metrics.commit_conflict(ctx, output.table, "replayed")
            _back_off(attempt)
            continue
        failpoint("after-publish")
        ctx.lineage.wrote(output.table, snapshot_id, **facts)
        log.info("published %s: main -> snapshot %s", output.table, snapshot_id)
        published = dataclasses.replace(
            written, snapshot_id=snapshot_id, branch=None, checks=report.summary()
        )
        metrics.table_written(ctx, published)
        return published
    metrics.commit_conflict(ctx, output.table, "failed")
    raise AkkoError(
        f"{output.table}: main kept moving under {REPLAYS} replays of this step's write; try again"
    )


def _back_off(attempt: int) -> None:
    time.sleep(random.uniform(0, min(BACKOFF * 2 ** (attempt - 1), BACKOFF_MAX)))


def already_published(ctx: StepContext, output: Output) -> WriteResult | None:
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table = ctx.catalog.load_table(output.table)
    except NoSuchTableError:
        return None
    snapshot = find_published(table, ctx.snapshot_properties)
    if snapshot is None:
        return None
    props = snapshot.summary.additional_properties if snapshot.summary else {}
    log.warning(
        "%s already published snapshot %s in this run (try %s): not writing again",
        output.table,
        snapshot.snapshot_id,
        props.get("akko.try-number"),
    )
    return WriteResult(
        output.table,
        output.mode,
        int(props.get("added-records", 0)),
        snapshot.snapshot_id,
        created=False,
        already_published=True,
    )


def audit(ctx: StepContext, output: Output, checks: list[Check], written: WriteResult) -> CheckReport:
    """Run the checks against the written snapshot, log the report and record it in the history table."""
    from akko_orchestrator.quality.history import record
    from akko_orchestrator.quality.runner import run_checks

    report = run_checks(
        ctx.sql_engine,
        output.table,
        checks,
        written.snapshot_id,
        previous_rows=_rows_at(ctx, output.table, written.base_snapshot_id, written.created),
        catalog=ctx.catalog,
    )
    log.info("%s", report.text(samples=not report.passed))
    metrics.checks_judged(ctx, report)
    record(ctx.platform_catalog, report, ctx.snapshot_properties)  # akko.check_results: AKKO's own table
    return report


def _rows_at(ctx: StepContext, table_name: str, snapshot_id: int | None, created: bool) -> int | None:
    if created or snapshot_id is None:
        return None
    snapshot = ctx.catalog.load_table(table_name).metadata.snapshot_by_id(snapshot_id)
    props = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    total = props.get("total-records")
    return int(total) if total is not None else None


def write_arrow(ctx: StepContext, output: Output, checks: list[Check], data: pa.Table) -> WriteResult:
    """A step's Arrow result to its table, through `guarded_write`."""
    from akko_orchestrator.lakehouse.writer import write_table

    return guarded_write(
        ctx,
        output,
        checks,
        lambda branch: write_table(ctx.catalog, output, data, ctx.snapshot_properties, branch),
    )
