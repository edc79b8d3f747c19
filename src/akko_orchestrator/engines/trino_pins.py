"""Reads of pinned snapshots on Trino: `FOR VERSION AS OF <snapshot>` inserted into spec SQL after each read of a
pinned table (e.g. the checks of a step that read the snapshot the step wrote). Apart from the engine because it is
pure text work with sqlglot, testable without Trino.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from akko_orchestrator.errors import AkkoError


def pin_versions(sql: str, versions: Mapping[str, int], catalogs: Collection[str] = ("iceberg",)) -> str:
    """`sql` with every read of a table of `versions` ({"ns.table": snapshot_id}, case-insensitive) made a read of
    that snapshot: `ns.table [AS x]` -> `ns.table FOR VERSION AS OF <id> [AS x]` (Trino's grammar puts the version
    right after the name, before the alias). References `<catalog>.ns.table` are pinned for the lakehouse
    `catalogs` only; tables written to (INSERT INTO, MERGE INTO...) are not pinned.

    Each clause is a sqlglot node (its one value the snapshot id, an integer) rendered and inserted into the text
    right after the table reference sqlglot found; the text is otherwise run as written, so an error's line and
    column still point into the spec's SQL."""
    import sqlglot
    from sqlglot import exp

    wanted = {name.lower(): int(snapshot_id) for name, snapshot_id in versions.items()}
    lakehouses = {c.lower() for c in catalogs}
    tree = sqlglot.parse_one(sql, read="trino")
    inserts: list[tuple[int, str]] = []
    for table in tree.find_all(exp.Table):
        key = _pinned(table, wanted, lakehouses)
        if key is None:
            continue
        if table.args.get("version") is not None:
            raise AkkoError(
                f"cannot pin table {key}: the query already reads it with FOR VERSION/TIMESTAMP AS OF"
            )
        end = table.this.meta.get("end")
        if end is None:  # not found in the text: regenerate it instead
            return _pin_in_tree(tree, wanted, lakehouses)
        inserts.append((end + 1, " " + _version(wanted[key]).sql(dialect="trino")))
    for offset, clause in sorted(inserts, reverse=True):
        sql = sql[:offset] + clause + sql[offset:]
    return sql


def _pin_in_tree(tree: Any, wanted: Mapping[str, int], lakehouses: Collection[str]) -> str:
    from sqlglot import exp

    for table in tree.find_all(exp.Table):
        key = _pinned(table, wanted, lakehouses)
        if key is not None:
            table.set("version", _version(wanted[key]))
    return tree.sql(dialect="trino")


def _version(snapshot_id: int) -> Any:
    """`FOR VERSION AS OF <snapshot_id>` as a node."""
    from sqlglot import exp

    return exp.Version(this="VERSION", kind="AS OF", expression=exp.Literal.number(int(snapshot_id)))


def _pinned(table: Any, wanted: Mapping[str, int], lakehouses: Collection[str]) -> str | None:
    """The key in `wanted` of a table reference to pin, None for the others."""
    key = f"{table.db}.{table.name}".lower()
    if key not in wanted or (table.catalog and table.catalog.lower() not in lakehouses) or _written(table):
        return None
    return key


def _written(table: Any) -> bool:
    """True for the table a statement writes to or describes, where Trino takes no version clause."""
    from sqlglot import exp

    node = table.parent if isinstance(table.parent, exp.Schema) else table  # INSERT INTO t (columns)
    parent = node.parent
    targets = (exp.Insert, exp.Merge, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Describe)
    return isinstance(parent, targets) and parent.args.get("this") is node
