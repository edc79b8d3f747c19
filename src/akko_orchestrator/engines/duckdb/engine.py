"""DuckDB as the embedded SQL engine: Trino SQL transpiled by sqlglot (with Trino's semantics, `semantics.py`),
Iceberg tables read with DuckDB's iceberg extension at the snapshot current when the step starts, or at the snapshot
a query pins (`snapshot_from_id`). Results return as Arrow and are written by pyiceberg. Only what the Trino
allow-list admits reaches DuckDB, on a locked-down connection (`sandbox.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akko_orchestrator.engines.base import Capabilities, SqlEngine, pinned_versions
from akko_orchestrator.engines.duckdb.sandbox import LOCK, shared_connection, warehouse_folder
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import split_table

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project


def to_duckdb_sql(sql: str, schema: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Trino SQL -> DuckDB SQL with Trino's answers; the lakehouse catalog prefix (iceberg.ns.t) is dropped.
    `schema`: the Trino column types of the tables read ({"ns.table": {"column": "decimal(12,2)"}})."""
    import sqlglot
    from sqlglot import exp

    from akko_orchestrator.engines.duckdb.decimals import decimal_literal_or_default
    from akko_orchestrator.engines.duckdb.semantics import trino_semantics
    from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG
    from akko_orchestrator.plan.sql_support import annotate

    tree = sqlglot.parse_one(sql, read="trino")
    for table in tree.find_all(exp.Table):
        if table.catalog.lower() == LAKEHOUSE_SQL_CATALOG:
            table.set("catalog", None)
    for cast in list(tree.find_all(exp.Cast)):
        if cast.to.is_type(exp.DataType.Type.DECIMAL) and not cast.to.expressions:
            cast.replace(decimal_literal_or_default(cast, sql))
    typed = annotate(tree, schema or {})
    return trino_semantics(typed if typed is not None else tree, sql).sql(dialect="duckdb")


class DuckDBEngine(SqlEngine):
    capabilities = Capabilities(dialect="duckdb", reads_iceberg_natively=True)

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        # The one folder DuckDB may read: the catalog's warehouse, where every table's files live.
        warehouse = warehouse_folder(str(catalog.properties.get("warehouse") or ""))
        self.allowed = [warehouse] if warehouse else []
        self.con = shared_connection(self.allowed)

    def query(self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None) -> pa.Table:
        with LOCK:  # the views registered for this query are the process' database's
            translated = self._checked(sql, tables, versions)
            try:
                return self._trino_types(self.con.sql(translated)).to_arrow_table()
            except Exception as exc:  # duckdb raises many error classes; all are the query's fault here
                raise AkkoError(
                    f"DuckDB could not run the query: {exc}\n--- as run on DuckDB:\n{translated}"
                ) from None

    def explain(self, sql: str, query: str, tables: list[str]) -> pa.Table:
        """DuckDB's plan of the query as translated (EXPLAIN's Trino options do not apply to DuckDB)."""
        import pyarrow as pa

        with LOCK:
            translated = self._checked(query.strip().rstrip(";"), tables, None)
            try:
                plan = self.con.sql(f"EXPLAIN {translated}").fetchall()
            except Exception as exc:  # duckdb raises many error classes; all are the query's fault here
                raise AkkoError(f"DuckDB could not explain the query: {exc}") from None
        return pa.table({"Query Plan": ["\n".join(str(row[-1]) for row in plan)]})

    def _checked(self, sql: str, tables: list[str], versions: Mapping[str, int] | None) -> str:
        """The DuckDB SQL of `sql`, once it passed the checks and its tables are registered.

        Checked again here, whoever calls (steps, checks, `akko query`): one query of Trino SQL, nothing DuckDB
        would answer differently from Trino (the checks that need the tables' column types can only run here)."""
        from akko_orchestrator.plan.sql_support import embedded_unsupported
        from akko_orchestrator.plan.statements import query_issues

        refused = query_issues(sql)
        if refused:
            raise AkkoError("; ".join(issue.message for issue in refused))
        # Pinned tables are pinned in their views, so the SQL (and its refusal of time travel) is unchanged.
        schema = self._register(tables, pinned_versions(tables, versions))
        refused = embedded_unsupported(sql, schema)
        if refused:
            raise AkkoError("; ".join(issue.message for issue in refused))
        return to_duckdb_sql(sql, schema)

    def _register(
        self, tables: list[str], versions: Mapping[str, int] | None = None
    ) -> dict[str, dict[str, str]]:
        """One view per table, pinned to the table's current metadata file (a consistent snapshot), or to the
        snapshot `versions` names for it (lower-case names); returns the tables' columns with their Trino types."""
        from pyiceberg.exceptions import NoSuchTableError

        versions = versions or {}
        schema = {}
        for name in tables:
            namespace, table = split_table(name)
            try:
                loaded = self.catalog.load_table(name)
            except NoSuchTableError:
                raise AkkoError(
                    f"table {name} does not exist yet: run the pipeline that writes it first"
                ) from None
            self._check_readable(name, loaded.location())
            scan = f"'{_quote(loaded.metadata_location)}'"
            fields = loaded.schema().fields
            snapshot_id = versions.get(name.lower())
            if snapshot_id is not None:
                scan += f", snapshot_from_id = {snapshot_id}"
                fields = _snapshot_schema(loaded, name, snapshot_id).fields
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{namespace}"."{table}" AS SELECT * FROM iceberg_scan({scan})'
            )
            schema[name] = {field.name: trino_type(field.field_type) for field in fields}
        return schema

    def _check_readable(self, name: str, location: str) -> None:
        """A table stored outside the warehouse cannot be read by the locked-down connection: say so, not
        DuckDB's permission error."""
        folder = warehouse_folder(location)
        inside = folder is not None and any(
            Path(folder).resolve().is_relative_to(Path(allowed).resolve()) for allowed in self.allowed
        )
        if not inside:
            raise AkkoError(
                f"table {name} is stored at {location}, outside the warehouse the embedded engine reads "
                f"({', '.join(self.allowed) or 'none'})"
            )

    @staticmethod
    def _trino_types(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """DuckDB sums BIGINTs into HUGEINT (int128); Trino keeps BIGINT. Cast back so results match Trino's."""
        columns = relation.columns
        if not any(str(t) == "HUGEINT" for t in relation.dtypes):
            return relation
        select = ", ".join(
            f'CAST("{c}" AS BIGINT) AS "{c}"' if str(t) == "HUGEINT" else f'"{c}"'
            for c, t in zip(columns, relation.dtypes, strict=True)
        )
        return relation.project(select)

    def close(self) -> None:
        self.con.close()


def _snapshot_schema(table: Any, name: str, snapshot_id: int) -> Any:
    """The schema a snapshot was written with (iceberg_scan reads the snapshot with it); the table's current schema
    for a snapshot that does not record one."""
    snapshot = table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        raise AkkoError(f"table {name} has no snapshot {snapshot_id}")
    if snapshot.schema_id is not None:
        found = table.metadata.schema_by_id(snapshot.schema_id)
        if found is not None:
            return found
    return table.schema()


def _quote(text: str) -> str:
    return text.replace("'", "''")


def trino_type(iceberg_type: Any) -> str:
    """The Trino type of an Iceberg column (what Trino's Iceberg connector shows)."""
    from pyiceberg import types as t

    simple = {
        t.BooleanType: "boolean",
        t.IntegerType: "integer",
        t.LongType: "bigint",
        t.FloatType: "real",
        t.DoubleType: "double",
        t.StringType: "varchar",
        t.BinaryType: "varbinary",
        t.FixedType: "varbinary",
        t.DateType: "date",
        t.TimeType: "time(6)",
        t.TimestampType: "timestamp(6)",
        t.TimestamptzType: "timestamp(6) with time zone",
        t.UUIDType: "uuid",
    }
    if type(iceberg_type) in simple:
        return simple[type(iceberg_type)]
    if isinstance(iceberg_type, t.DecimalType):
        return f"decimal({iceberg_type.precision}, {iceberg_type.scale})"
    if isinstance(iceberg_type, t.ListType):
        return f"array({trino_type(iceberg_type.element_type)})"
    if isinstance(iceberg_type, t.MapType):
        return f"map({trino_type(iceberg_type.key_type)}, {trino_type(iceberg_type.value_type)})"
    if isinstance(iceberg_type, t.StructType):
        fields = ", ".join(f'"{f.name}" {trino_type(f.field_type)}' for f in iceberg_type.fields)
        return f"row({fields})"
    return "unknown"


def create(project: Project, catalog: Catalog) -> SqlEngine:
    return DuckDBEngine(catalog)
