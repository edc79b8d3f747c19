"""The step of celery_kill.yaml: leaves a file per try (the worker it ran on, its pid), sleeps in its first try
(the test SIGKILLs that try's worker), returns 100 rows tagged with the run."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pyarrow as pa

STARTED_DIR = "celery-started"  # under the state dir (AKKO_STATE_DIR: a step's code gets no project settings)


def slow_rows(ctx) -> pa.Table:
    marks = Path(os.environ["AKKO_STATE_DIR"]) / STARTED_DIR
    marks.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{ctx.run_id}.{ctx.try_number}")
    info = {"worker": os.environ.get("AKKO_CELERY_WORKER"), "pid": os.getpid(), "try": ctx.try_number}
    (marks / f"{name}.tmp").write_text(json.dumps(info))
    os.replace(marks / f"{name}.tmp", marks / name)
    if ctx.try_number == 1:
        time.sleep(900)
    return pa.table({"id": pa.array(range(100), pa.int64()), "run": [ctx.run_id] * 100})
