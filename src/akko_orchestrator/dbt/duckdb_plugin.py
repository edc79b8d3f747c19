"""The dbt-duckdb plugin of the embedded profile's dbt steps (`plugins: [{module: akko_orchestrator.dbt...}]`).

dbt compiles a step's models on a scratch DuckDB database named `iceberg`; for its introspection to see the
lakehouse as it is (is_incremental(), columns of sources, `run_query` on a source), every connection it opens gets:
- the lakehouse tables the models read as views over their current Iceberg metadata (`iceberg_scan`), with the
  DuckDB extensions loaded offline from their PyPI packages (dbt-duckdb's `extensions:` would download them);
- each model's own table as an empty table of its columns, so that `is_incremental()` (which wants a table) is
  true exactly when the model's Iceberg table exists, and `{{ this }}` names it;
then the same lock-down as every AKKO DuckDB connection (engines/duckdb/sandbox.py): only the warehouse is
readable, no network, no extension install, configuration locked.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # The lakehouse of this run comes from a file: the profile itself stays the same from run to run, so dbt
        # keeps its partial-parse state (a changed profile makes dbt parse the whole project again).
        import json
        from pathlib import Path

        lakehouse = json.loads(Path(plugin_config["lakehouse"]).read_text(encoding="utf-8"))
        self.views: dict[str, str] = dict(lakehouse.get("views") or {})  # ns.table -> metadata location
        self.tables: dict[str, str] = dict(lakehouse.get("tables") or {})  # the models' own tables, same
        self.allowed: list[str] = list(lakehouse.get("allowed") or [])

    def configure_connection(self, conn: Any) -> None:
        from akko_orchestrator.engines.duckdb.sandbox import EXTENSIONS, extension_path, lock_down

        for name in EXTENSIONS:
            conn.load_extension(str(extension_path(name)))
        for name, location in sorted(self.views.items()):
            self._relation(conn, "VIEW", name, f"SELECT * FROM iceberg_scan({_literal(location)})")
        for name, location in sorted(self.tables.items()):
            self._relation(conn, "TABLE", name, f"SELECT * FROM iceberg_scan({_literal(location)}) LIMIT 0")
        lock_down(conn, self.allowed)

    @staticmethod
    def _relation(conn: Any, kind: str, name: str, query: str) -> None:
        namespace, table = name.split(".", 1)
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
        conn.execute(f'CREATE OR REPLACE {kind} "{namespace}"."{table}" AS {query}')


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
