"""The SQL engine interface every engine implements (the registry that builds one is `engines/registry.py`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    dialect: str  # sqlglot dialect the engine executes
    reads_iceberg_natively: bool


class SqlEngine(ABC):
    """Runs Trino SQL (the spec language) against the lakehouse and returns Arrow."""

    capabilities: Capabilities

    @abstractmethod
    def query(self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None) -> pa.Table:
        """Run one query in Trino SQL that reads `tables` (namespace.table) and return its result.

        `versions` pins some of `tables` (by the same names) to an Iceberg snapshot id: every reference to such a
        table in `sql` reads that snapshot instead of the current one, also a snapshot on a branch other than
        main (write-audit-publish checks read the audit branch's snapshot). `sql` itself names the table as
        usual, without time travel. A name in `versions` that is not in `tables` is an error."""

    def query_aggregates(
        self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None
    ) -> pa.Table:
        """`query` for one statement computing many aggregates in one scan (the checks' statement), which an
        engine may plan differently from its default."""
        return self.query(sql, tables, versions=versions)

    def explain(self, sql: str, query: str, tables: list[str]) -> pa.Table:
        """The engine's plan of `query`, as the statement `sql` (EXPLAIN ... `query`) asks for it."""
        return self.query(sql, [])

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def pinned_versions(tables: list[str], versions: Mapping[str, int] | None) -> dict[str, int]:
    """`versions` checked against `tables`, keyed by lower-case name (SQL names are case-insensitive)."""
    if not versions:
        return {}
    known = {name.lower() for name in tables}
    pinned = {}
    for name, snapshot_id in versions.items():
        if name.lower() not in known:
            raise AkkoError(
                f"cannot pin table {name} to snapshot {snapshot_id}: "
                f"the query reads {', '.join(tables) or 'no table'}"
            )
        # An int, never text: the id is written into the SQL that runs.
        if isinstance(snapshot_id, bool) or not isinstance(snapshot_id, int):
            raise AkkoError(f"snapshot id of table {name} must be an integer, not {snapshot_id!r}")
        pinned[name.lower()] = snapshot_id
    return pinned
