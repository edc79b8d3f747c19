"""Small, JSON-safe step results: what goes to XCom and what `akko run` prints. Never whole tables."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa

from akko_orchestrator.lakehouse.writer import WriteResult

PREVIEW_ROWS = 50


def write_summary(result: WriteResult) -> dict[str, Any]:
    return {
        "table": result.table,
        "mode": result.mode,
        "rows": result.rows,
        "snapshot_id": result.snapshot_id,
        "created": result.created,
        **({"checks": result.checks} if result.checks else {}),
        **({"already_published": True} if result.already_published else {}),
        **({"ingest": result.ingest} if result.ingest else {}),
    }


def table_preview(table: pa.Table, limit: int = PREVIEW_ROWS) -> dict[str, Any]:
    head = table.slice(0, limit)
    return {
        "columns": head.column_names,
        "rows": [[json_safe(v) for v in row.values()] for row in head.to_pylist()],
        "total_rows": table.num_rows,
    }


def json_safe(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def format_text(table: pa.Table, limit: int = 20) -> str:
    """A plain fixed-width rendering for task logs (the CLI renders previews with rich)."""
    rows = [[str(json_safe(v)) for v in row.values()] for row in table.slice(0, limit).to_pylist()]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(table.column_names)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(table.column_names, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    if table.num_rows > limit:
        lines.append(f"... {table.num_rows - limit} more rows")
    return "\n".join(lines)
