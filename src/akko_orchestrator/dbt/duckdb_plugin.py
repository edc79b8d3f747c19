"""The dbt-duckdb plugin of every DuckDB profile AKKO generates (`plugins: [{module: akko_orchestrator.dbt...}]`):
at parse and validate time (nothing readable) and at run time (the lakehouse of the step's team).

dbt compiles a step's models on a scratch DuckDB database named `iceberg`; for its introspection to see the
lakehouse as it is (is_incremental(), columns of sources, `run_query` on a source), every connection it opens gets:
- the lakehouse tables the models read as views over their current Iceberg metadata (`iceberg_scan`), with the
  DuckDB extensions loaded offline from their PyPI packages (dbt-duckdb's `extensions:` would download them);
- each model's own table as an empty table of its columns, so that `is_incremental()` (which wants a table) is
  true exactly when the model's Iceberg table exists, and `{{ this }}` names it;
then the same lock-down as every AKKO DuckDB connection (engines/duckdb/sandbox.py), with only the folders of the
namespaces those tables are in readable (none at parse time): no other team's files, not the state folder, no
network, no extension install, configuration locked. And every statement dbt then runs passes the gate
(dbt/gate.py): DuckDB cannot make an allowed folder read-only, so the gate is what stops a model's
`{% do run_query("COPY ... TO ...") %}`, EXPORT or ATTACH.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.environments import local
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt_common.exceptions import DbtRuntimeError

# The cursor methods dbt-core and dbt-duckdb 1.11 call besides `execute` (fetching results, closing, cancelling,
# transactions); any other method of a DuckDB connection (`sql`, `query`, `read_csv`, `install_extension`, ...)
# runs or reaches something without the gate and is not forwarded.
FORWARDED = frozenset(
    {
        "close",
        "description",
        "fetchall",
        "fetchmany",
        "fetchone",
        "rowcount",
        "rollback",
        "commit",
        "interrupt",
    }
)


class GatedCursor(local.DuckDBCursorWrapper):
    """dbt-duckdb's cursor wrapper with every statement passing the gate first.

    Why here: dbt-duckdb 1.11 has no hook that wraps a cursor (a plugin's `configure_cursor` gets the raw cursor
    and its return value is dropped, environments/__init__.py `initialize_cursor`), but every statement dbt runs,
    its own introspection, materializations and a model's `run_query`/`statement` alike, goes through
    `connection.handle.cursor().execute(sql, bindings)` (dbt-adapters' SQLConnectionManager.add_query), and that
    cursor is `DuckDBCursorWrapper(cursor)`, looked up in environments/local.py at each `handle()`. The plugin
    is initialized when dbt-duckdb creates its environment, before the first handle, and swaps the class there
    (`_install_gate`). The raw cursor is only reachable from Python (Jinja's sandbox refuses `_` attributes)."""

    def execute(self, sql: str, bindings: Any = None) -> Any:
        from akko_orchestrator.dbt.gate import StatementRefused, execute

        try:
            return execute(self._cursor, sql, bindings)
        except StatementRefused as exc:
            raise DbtRuntimeError(str(exc)) from None
        except RuntimeError as exc:  # DuckDB's errors, as dbt-duckdb's own wrapper reports them
            raise DbtRuntimeError(str(exc)) from exc

    def __getattr__(self, name: str) -> Any:
        if name not in FORWARDED:
            raise AttributeError(f"AKKO's dbt cursor has no `{name}`: statements run through `execute` only")
        return getattr(self._cursor, name)


def _install_gate() -> None:
    """Statements through the gated cursor; and the local environment's two ways around any cursor refused:
    Python jobs (dbt's `statement` macro with `language='python'`, reachable from a SQL model through a macro
    whose name holds "materialization", runs any Python at compile time) and `store_relation` (the `glue|...`
    plugin it builds on demand writes to AWS Glue)."""
    local.DuckDBCursorWrapper = GatedCursor
    local.LocalEnvironment.submit_python_job = _refuse_python  # type: ignore[method-assign]
    local.LocalEnvironment.store_relation = _refuse_plugin_store  # type: ignore[method-assign]


def _refuse_python(*_: Any, **__: Any) -> Any:
    raise DbtRuntimeError(
        "refused on dbt's DuckDB: Python (a Python model or statement) runs arbitrary code outside AKKO's "
        "sandbox; write the model in SQL"
    )


def _refuse_plugin_store(*_: Any, **__: Any) -> Any:
    raise DbtRuntimeError(
        "refused on dbt's DuckDB: dbt-duckdb plugins store no relation here; AKKO writes every model's table"
    )


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        from akko_orchestrator.errors import AkkoError

        creds = self.creds  # a remote or MotherDuck environment is not the local one gated here
        if creds is not None and (creds.remote or creds.is_motherduck):
            raise AkkoError("AKKO's dbt-duckdb profile runs on a local DuckDB file only")
        _install_gate()
        # The lakehouse of this run comes from a file: the profile itself stays the same from run to run, so dbt
        # keeps its partial-parse state (a changed profile makes dbt parse the whole project again). No file:
        # parse and validate time, nothing readable.
        lakehouse: dict[str, Any] = {}
        if plugin_config.get("lakehouse"):
            import json
            from pathlib import Path

            lakehouse = json.loads(Path(plugin_config["lakehouse"]).read_text(encoding="utf-8"))
        self.views: dict[str, str] = dict(lakehouse.get("views") or {})  # ns.table -> metadata location
        self.tables: dict[str, str] = dict(lakehouse.get("tables") or {})  # the models' own tables, same
        self.allowed: list[str] = list(lakehouse.get("allowed") or [])

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        # DuckDB would fetch and load an extension a query names (httpfs for a URL): extensions are AKKO's to load
        config.update(autoinstall_known_extensions=False, autoload_known_extensions=False)

    def configure_connection(self, conn: Any) -> None:
        from akko_orchestrator.engines.duckdb.sandbox import EXTENSIONS, extension_path, lock_down

        if self.views or self.tables:
            for name in EXTENSIONS:
                conn.load_extension(str(extension_path(name)))
        for statement in relations(self.views, self.tables):
            conn.execute(statement)
        lock_down(conn, self.allowed)


def relations(views: dict[str, str], tables: dict[str, str]) -> list[str]:
    """The statements creating the lakehouse's views and the models' empty tables (`ns.table` -> metadata)."""
    from sqlglot import exp

    from akko_orchestrator.sql.build import identifier, literal, render, table

    statements: list[str] = []
    for kind, found in (("VIEW", views), ("TABLE", tables)):
        for name, location in sorted(found.items()):
            scan = exp.Table(this=exp.Anonymous(this="iceberg_scan", expressions=[literal(location)]))
            query = exp.select(exp.Star()).from_(scan)
            schema = exp.Create(
                this=exp.Table(this=identifier(name.split(".", 1)[0])), kind="SCHEMA", exists=True
            )
            relation = exp.Create(
                this=table(name),
                kind=kind,
                replace=True,
                expression=query if kind == "VIEW" else query.limit(0),
            )
            statements += [render(schema, "duckdb"), render(relation, "duckdb")]
    return statements
