"""`ctx` as a step's own code receives it (a python step's function, a spark step's function): the run's identity,
its params, a logger, and only team-scoped, guarded objects.

What it offers: `pipeline_id`, `step_id`, `run_id`, `try_number`, `map_index`, `team`, `params`, `log`; `catalog`
(read-only: the tables of the namespaces the team may read, runtime/step_views.py); `query(sql)` (one Trino SQL
query on the step's engine, reading lakehouse tables the team may read); `object_store` (keys in the team's
folders only, `teams.<team>.files`; never AKKO's `_akko/`); `connection(conn_id)` / `allow_connection(conn_id)`
(the team's Airflow connections). What it never leads to, by any attribute: the platform catalog, the engine or
its raw connection, the project and its profile's secrets, the unscoped object store (`StepContext` stays
AKKO's; each view keeps its handle beside it, not in it).

Writes: a step's code writes no table itself. It returns the rows for the step's `output:`, which AKKO writes after
it returned: staged (write-audit-publish with checks), published once per Airflow run, so a retry never writes
twice. While the function runs, any pyiceberg commit in the process is refused (guardrails/iceberg.py
`user_code_scope`), also through a catalog the code opened itself.

Trust: python and spark code runs in the worker's process and can import anything (pyiceberg, duckdb, sqlite3,
the files of the state folder): this facade is what AKKO hands over and the commit guard stops careless writes,
neither is a sandbox. Against hostile code, the wall is what the worker's credentials allow (on `cluster`:
per-team catalog, object-store and engine credentials; see docs/security.md).
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.tenancy import Tenancy, TenancyError
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.runtime.step_views import (
    ReadOnlyCatalog,
    Sealed,
    StepWriteRefused,
    TeamFiles,
    handle_of,
    seal,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from akko_orchestrator.runtime.context import StepContext

__all__ = ["StepApi", "StepWriteRefused"]

# StepContext's attributes a step's code used to reach, and the way now
_NOT_OFFERED = {
    "platform_catalog": "ctx.catalog reads the tables the step's team may read",
    "sql_engine": "ctx.query(sql) runs one read-only Trino SQL query on the step's engine",
    "project": "a step's code gets no project settings (its profile holds secrets): pass values as `params`",
    "guard": "the team's rules are applied by ctx.catalog, ctx.query, ctx.object_store and ctx.connection",
    "lineage": "what the step reads through ctx is recorded for it",
    "snapshot_properties": "AKKO records the run's identity in every snapshot it writes",
}


class StepApi(Sealed):
    """The `ctx` of a step's own code (see the module's docstring)."""

    __slots__ = (
        "pipeline_id",
        "step_id",
        "run_id",
        "try_number",
        "map_index",
        "team",
        "params",
        "log",
        "catalog",
        "object_store",
    )

    def __init__(self, ctx: StepContext):
        self.pipeline_id: str = ctx.pipeline_id
        self.step_id: str = ctx.step_id
        self.run_id: str = ctx.run_id
        self.try_number: int = ctx.try_number
        self.map_index: int = ctx.map_index
        self.team: str | None = ctx.team
        self.params: dict[str, Any] = copy.deepcopy(ctx.params)  # the run's `--conf`
        self.log: logging.Logger = logging.getLogger(f"akko.step.{ctx.pipeline_id}.{ctx.step_id}")
        self.catalog = ReadOnlyCatalog(ctx)
        self.object_store = TeamFiles(ctx.object_store, _file_check(ctx), ctx.step_id)
        seal(self, ctx, ctx.step_id)

    def query(self, sql: str) -> pa.Table:
        """One Trino SQL query (SELECT, WITH, VALUES, TABLE) of lakehouse tables the team may read, run on the
        step's engine (DuckDB on `local`, Trino on `cluster`); anything else is refused before it runs."""
        ctx: StepContext = handle_of(self)
        tables = _query_tables(sql)
        if ctx.guard is not None:
            for table in tables:
                ctx.guard.check_read(table)
        ctx.lineage.read(tables)
        ctx.lineage.query(sql)
        return ctx.sql_engine.query(sql, tables)

    def connection(self, conn_id: str) -> Any:
        """An Airflow connection of the step's team (refused for any other)."""
        return handle_of(self).connection(conn_id)

    def allow_connection(self, conn_id: str) -> None:
        """Raises unless the step's team may use `conn_id`: call it before a hook fetches the connection itself."""
        handle_of(self).allow_connection(conn_id)

    def __getattr__(self, name: str) -> Any:
        if name in _NOT_OFFERED:
            raise AttributeError(f"ctx.{name} is not offered to a step's code: {_NOT_OFFERED[name]}")
        if name in ("write", "commit", "append", "overwrite"):
            raise StepWriteRefused(f"step '{self.step_id}': ctx.{name} refused; {StepWriteRefused.WAY}")
        offered = ", ".join((*self.__slots__, "query", "connection", "allow_connection"))
        raise AttributeError(f"ctx has no attribute {name!r} (it offers {offered})")

    def __repr__(self) -> str:
        return f"<step {self.pipeline_id}.{self.step_id} run {self.run_id} try {self.try_number}>"


def _file_check(ctx: StepContext) -> Any:
    """The rule for object-store keys: the team's folders (with `teams:`), else anything but AKKO's `_akko/`."""
    if ctx.guard is not None:
        return ctx.guard.check_file
    step = ctx.step_id

    def check(key: str) -> None:
        refusal = Tenancy().file_refusal(None, key)
        if refusal is not None:
            raise TenancyError(f"step '{step}': {refusal[0]}; refused ({refusal[1]})")

    return check


def _query_tables(sql: str) -> list[str]:
    """The lakehouse tables `sql` reads, once it is known to be one query (else an `AkkoError`, nothing ran)."""
    from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, SqlSyntaxError, tables_read
    from akko_orchestrator.plan.statements import query_issues

    try:
        issues = query_issues(sql)
        refs = tables_read(sql)
    except SqlSyntaxError as exc:
        raise AkkoError(f"ctx.query: the SQL does not parse as Trino: {exc}") from None
    if issues:
        raise AkkoError(f"ctx.query runs one read-only query: {issues[0].message}")
    for ref in refs:
        if ref.catalog not in ("", LAKEHOUSE_SQL_CATALOG) or not ref.namespace:
            name = ".".join(p for p in (ref.catalog, ref.namespace, ref.name) if p)
            raise AkkoError(
                f"ctx.query reads lakehouse tables only, named namespace.table (e.g. demo.sales): not {name}"
            )
    return [ref.qualified for ref in refs]
