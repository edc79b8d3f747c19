"""Maintenance on the `cluster` profile: Trino's own table procedures, through the profile's Trino engine.

- `optimize(file_size_threshold => target)` when at least `min_input_files` files are below the target (counted
  from the table's metadata); Trino writes files up to its `iceberg.target-max-file-size`.
- `optimize_manifests` when main has more data manifests than partition specs.
- `expire_snapshots(retention_threshold => older_than)`: Trino takes only a threshold. Keep-last-K is Iceberg's
  table property `history.expire.min-snapshots-to-keep`, which Iceberg's ExpireSnapshots (what Trino calls)
  honours for every branch, so AKKO sets it (and `history.expire.max-snapshot-age-ms`, the age a branch's history
  is kept) to the settings first; every branch head is kept.
- `remove_orphan_files(retention_threshold => older_than)`.
The stack's Trino has its minimum retentions set to AKKO's floors (stack/trino.py), so AKKO's floors rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import TableMaintenance, duration, size_bytes
from akko_orchestrator.maintenance.files import small_files
from akko_orchestrator.maintenance.report import TableReport
from akko_orchestrator.sql.build import call, identifier, literal, named_argument, render

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from akko_orchestrator.engines.base import SqlEngine

MIN_SNAPSHOTS = "history.expire.min-snapshots-to-keep"
MAX_SNAPSHOT_AGE = "history.expire.max-snapshot-age-ms"


@dataclass(frozen=True)
class Procedure:
    """One `ALTER TABLE ... EXECUTE <call>`: the procedure's name, its call as Trino SQL, the whole statement."""

    name: str
    call: str
    sql: str


def statements(table: Table, settings: TableMaintenance, catalog: str) -> list[Procedure]:
    """The `ALTER TABLE ... EXECUTE` statements this table needs now, in order."""
    from pyiceberg.manifest import ManifestContent

    namespace, name = table.name()[-2:]
    found = []
    if settings.compact is not None:
        target = size_bytes(settings.compact.target_file_size)
        if len(small_files(table, target)) >= settings.compact.min_input_files:
            found.append(_execute(catalog, namespace, name, "optimize", file_size_threshold=f"{target}B"))
    snapshot = table.current_snapshot()
    if settings.rewrite_manifests and snapshot is not None:
        data = [m for m in snapshot.manifests(table.io) if m.content == ManifestContent.DATA]
        if len(data) > len({m.partition_spec_id for m in data}):
            found.append(_execute(catalog, namespace, name, "optimize_manifests"))
    if settings.expire_snapshots is not None:
        threshold = _duration(settings.expire_snapshots.older_than)
        found.append(_execute(catalog, namespace, name, "expire_snapshots", retention_threshold=threshold))
    if settings.remove_orphan_files is not None:
        threshold = _duration(settings.remove_orphan_files.older_than)
        found.append(_execute(catalog, namespace, name, "remove_orphan_files", retention_threshold=threshold))
    return found


def execute_statement(catalog: str, namespace: str, name: str, procedure: str, **arguments: str) -> str:
    """`ALTER TABLE "catalog"."namespace"."name" EXECUTE procedure(argument => 'value', ...)` as a tree.

    sqlglot has no node for Trino's table procedures: the ALTER's action is a command node holding the rendered
    call (a call node with named arguments and string literals), so every part is still a node rendered by
    sqlglot. The procedure and argument names are Trino's, unquoted as Trino's documentation writes them (Trino
    resolves them by their canonical, upper-cased names: a quoted lower-case name would not be found)."""
    return _execute(catalog, namespace, name, procedure, **arguments).sql


def _execute(catalog: str, namespace: str, name: str, procedure: str, **arguments: str) -> Procedure:
    from sqlglot import exp

    if arguments:
        invoked = call(procedure, *[named_argument(k, literal(v)) for k, v in arguments.items()])
    else:
        invoked = exp.var(procedure)
    text = render(invoked)
    target = exp.Table(this=identifier(name), db=identifier(namespace), catalog=identifier(catalog))
    statement = exp.Alter(this=target, kind="TABLE", actions=[exp.Command(this="EXECUTE", expression=text)])
    return Procedure(procedure, text, render(statement))


def run_trino(
    table: Table, settings: TableMaintenance, engine: SqlEngine, catalog: str, report: TableReport
) -> list[str]:
    """Runs the statements; returns them (for the task log). The counts come from the table's metadata after."""
    todo = statements(table, settings, catalog)
    if settings.expire_snapshots is not None:
        rule = settings.expire_snapshots
        wanted = {
            MIN_SNAPSHOTS: str(rule.retain_last),
            MAX_SNAPSHOT_AGE: str(int(duration(rule.older_than).total_seconds() * 1000)),
        }
        if any(table.properties.get(k) != v for k, v in wanted.items()):
            table.transaction().set_properties(wanted).commit_transaction()
    before = {s.snapshot_id for s in table.metadata.snapshots}
    small = len(small_files(table, size_bytes(settings.compact.target_file_size))) if settings.compact else 0
    untouched = report.files_before - small
    for procedure in todo:
        engine.query(procedure.sql, [".".join(table.name()[-2:])])
        if procedure.name == "optimize":
            table.refresh()
            report.compacted = (small, _live_files(table) - untouched)
    table.refresh()
    report.expired = len(before - {s.snapshot_id for s in table.metadata.snapshots})
    return [procedure.sql for procedure in todo]


def _live_files(table: Table) -> int:
    snapshot = table.current_snapshot()
    return int(snapshot.summary.get("total-data-files", 0)) if snapshot and snapshot.summary else 0


def _duration(text: str) -> str:
    """AKKO's `7d` as a Trino duration literal (Trino has no `w` unit)."""
    return f"{int(duration(text).total_seconds())}s"
