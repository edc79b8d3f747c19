"""Rows that depend on the run only: run `r<N>` adds ids N*1000 .. N*1000+999, the same in every try; and the
200,000 rows of one Airflow run for the whole-process crash test."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from akko_orchestrator.runtime.step_api import StepApi


def batch_for_run(ctx) -> pa.Table:
    offset = int(ctx.run_id.lstrip("r")) * 1000
    ids = list(range(offset, offset + 1000))
    return pa.table({"id": pa.array(ids, pa.int64()), "run": [ctx.run_id] * len(ids)})


WHOLE_ROWS = 200_000
STARTED_DIR = "crash-started"  # under the state dir: one file per run whose step function began


def rows_of_airflow_run(ctx: StepApi) -> pa.Table:
    """200,000 rows tagged with the Airflow run id. First it leaves a file naming the run (atomically: the
    process may be SIGKILLed at any moment), so the whole-process crash test can time its kills from the
    step's start and knows which run it killed. (A step's code gets no project settings: the test gives the
    state folder in AKKO_STATE_DIR.)"""
    marks = Path(os.environ["AKKO_STATE_DIR"]) / STARTED_DIR
    marks.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", ctx.run_id)
    (marks / f"{name}.tmp").write_text(f"{time.time()}\n{ctx.run_id}\n")
    os.replace(marks / f"{name}.tmp", marks / name)
    ids = pa.array(range(WHOLE_ROWS), pa.int64())
    return pa.table({"id": ids, "run": pa.array([ctx.run_id] * WHOLE_ROWS, pa.string())})
