"""Rows that depend on the run only: run `r<N>` adds ids N*1000 .. N*1000+999, the same in every try."""

from __future__ import annotations

import pyarrow as pa


def batch_for_run(ctx) -> pa.Table:
    offset = int(ctx.run_id.lstrip("r")) * 1000
    ids = list(range(offset, offset + 1000))
    return pa.table({"id": pa.array(ids, pa.int64()), "run": [ctx.run_id] * len(ids)})
