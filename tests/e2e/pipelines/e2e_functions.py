"""Python steps used by the end-to-end error-path tests."""

from __future__ import annotations

import os
import signal

import pyarrow as pa


def write_order_files(ctx) -> dict:
    good = b'{"order_id": 100, "amount": 1.5}\n'
    ctx.object_store.write_bytes("raw/sales/corrupt_orders/a.jsonl", good)
    ctx.object_store.write_bytes("raw/sales/corrupt_orders/b.jsonl", b'{"order_id": 101, "amount": oops}\n')
    ctx.object_store.write_bytes("raw/sales/corrupt_orders/c.jsonl", good.replace(b"100", b"102"))
    return {"files": 3}


def die_before_commit(sales: pa.Table) -> pa.Table:
    """Return rows to append, after arranging for the process to die inside the commit (data files written)."""
    from pyiceberg.table import Transaction

    def killed(self: Transaction) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    Transaction.commit_transaction = killed  # type: ignore[method-assign]
    return pa.concat_tables([sales] * 100)
