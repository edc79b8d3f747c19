"""The growth quality gates leave: audit branches of rejected writes, and the rows of `akko.check_results`.

Both through pyiceberg on every profile (Trino 476 cannot drop a branch; the history is written with pyiceberg).
Removing a branch only drops the ref: its snapshots go with the next expiry, which no longer protects them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import AUDIT_BRANCH_FLOOR
from akko_orchestrator.lakehouse.wap import audit_branches

if TYPE_CHECKING:
    from pyiceberg.table import Table


def branch_age(table: Table, branch: str, now: dt.datetime) -> dt.timedelta:
    head = table.snapshot_by_name(branch)
    if head is None:
        return dt.timedelta(0)
    return now - dt.datetime.fromtimestamp(head.timestamp_ms / 1000, dt.UTC)


def in_flight_branch(table: Table, now: dt.datetime) -> str | None:
    """An audit branch cut less than the floor ago may belong to a write being checked right now: its table is
    left alone until the next run (a rejected branch is older than that after an hour)."""
    for branch in audit_branches(table):
        if branch_age(table, branch, now) < AUDIT_BRANCH_FLOOR:
            return branch
    return None


def old_audit_branches(table: Table, retain: dt.timedelta, now: dt.datetime) -> list[str]:
    return [b for b in audit_branches(table) if branch_age(table, b, now) >= max(retain, AUDIT_BRANCH_FLOOR)]


def remove_audit_branches(table: Table, branches: list[str]) -> None:
    """In one commit (pyiceberg's ManageSnapshots, which asserts each branch is where it was read)."""
    if not branches:
        return
    manage = table.manage_snapshots()
    for branch in branches:
        manage = manage.remove_branch(branch)
    manage.commit()


def old_check_rows(table: Table, retain: dt.timedelta, now: dt.datetime) -> int:
    from pyiceberg.expressions import LessThan

    if table.current_snapshot() is None:
        return 0
    return table.scan(row_filter=LessThan("checked_at", _iso(now - retain))).to_arrow().num_rows


def delete_check_rows(
    table: Table, retain: dt.timedelta, now: dt.datetime, properties: dict[str, str]
) -> None:
    from pyiceberg.expressions import LessThan

    table.delete(delete_filter=LessThan("checked_at", _iso(now - retain)), snapshot_properties=properties)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
