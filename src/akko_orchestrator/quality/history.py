"""The check history: an Iceberg table in the lakehouse, one row per check per step run (`akko checks` reads it).

A retried try replaces the rows of its step and run (one overwrite-by-filter commit), so a run keeps one row per
check whatever the tries. Written straight to `main`: the history is the audit trail, never audited itself.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import warnings
from typing import TYPE_CHECKING

import pyarrow as pa

from akko_orchestrator.quality.report import CheckReport

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

HISTORY_TABLE = "akko.check_results"
COMMIT_ATTEMPTS = 20  # steps of parallel pipelines record at the same time; each retry re-reads the table

SCHEMA = pa.schema(
    [
        ("checked_at", pa.timestamp("us", tz="UTC")),
        ("pipeline", pa.string()),
        ("step", pa.string()),
        ("run_id", pa.string()),
        ("try_number", pa.int32()),
        ("table_name", pa.string()),
        ("snapshot_id", pa.int64()),
        ("check_name", pa.string()),
        ("kind", pa.string()),
        ("severity", pa.string()),
        ("status", pa.string()),
        ("failing_rows", pa.int64()),
        ("observed", pa.string()),
        ("expected", pa.string()),
        ("column_name", pa.string()),
        ("sample", pa.string()),
    ]
)


def history_rows(report: CheckReport, identity: dict[str, str], at: dt.datetime | None = None) -> pa.Table:
    at = at or dt.datetime.now(dt.UTC)
    rows = [
        {
            "checked_at": at,
            "pipeline": identity["akko.pipeline"],
            "step": identity["akko.step"],
            "run_id": identity["akko.run-id"],
            "try_number": int(identity.get("akko.try-number", "1")),
            "table_name": report.table,
            "snapshot_id": report.snapshot_id,
            "check_name": r.name,
            "kind": r.kind,
            "severity": r.severity,
            "status": r.status,
            "failing_rows": r.failing_rows,
            "observed": r.observed,
            "expected": r.expected,
            "column_name": r.column,
            "sample": json.dumps(r.sample) if r.sample else None,
        }
        for r in report.results
    ]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def record(catalog: Catalog, report: CheckReport, identity: dict[str, str]) -> None:
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
    from pyiceberg.expressions import And, EqualTo

    rows = history_rows(report, identity)
    catalog.create_namespace_if_not_exists(HISTORY_TABLE.split(".")[0])
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            table = catalog.load_table(HISTORY_TABLE)
        except NoSuchTableError:
            try:
                table = catalog.create_table(HISTORY_TABLE, schema=SCHEMA)
            except TableAlreadyExistsError:
                continue
        same_run = And(
            EqualTo("pipeline", identity["akko.pipeline"]),
            And(EqualTo("step", identity["akko.step"]), EqualTo("run_id", identity["akko.run-id"])),
        )
        try:
            with (
                warnings.catch_warnings()
            ):  # the first try of a run replaces nothing: pyiceberg warns of that
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                table.overwrite(rows, overwrite_filter=same_run, snapshot_properties=identity)
            return
        except CommitFailedException:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, min(0.05 * 2**attempt, 2.0)))  # racing recorders spread out


def read_history(catalog: Catalog, pipeline: str) -> pa.Table | None:
    """Every recorded check of a pipeline, newest first (None: nothing recorded yet)."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.expressions import EqualTo

    try:
        table = catalog.load_table(HISTORY_TABLE)
    except NoSuchTableError:
        return None
    rows = table.scan(row_filter=EqualTo("pipeline", pipeline)).to_arrow()
    return rows.sort_by([("checked_at", "descending"), ("step", "ascending"), ("check_name", "ascending")])
