"""DuckDB as the embedded SQL engine: Trino SQL transpiled by sqlglot (with Trino's semantics, `semantics.py`),
Iceberg tables read with DuckDB's iceberg extension at the snapshot current when the step starts, or at the snapshot
a query pins (`snapshot_from_id`). Results return as Arrow and are written by pyiceberg.

Only what the Trino allow-list admits reaches DuckDB, reading only the tables the query names (registered as views
for it, through the step's guarded catalog) and its CTEs (plan/sql_sources.py, on the DuckDB tree about to run); every
statement is built as a sqlglot tree (sql/build.py) and passes the gate (`gate.py`: DuckDB's own parser, one SELECT
reading only those views; CREATE only for the registration), on a connection that reads only the folders of the
namespaces the step's team may read (`sandbox.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akko_orchestrator.engines.base import Capabilities, SqlEngine, pinned_versions
from akko_orchestrator.engines.duckdb import gate
from akko_orchestrator.engines.duckdb.sandbox import (
    LOCK,
    allowed_folders,
    shared_connection,
    sqlite_file,
    warehouse_folder,
)
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import split_table
from akko_orchestrator.sql.build import identifier, literal, render

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from sqlglot import exp

    from akko_orchestrator.config.project import Project


def to_duckdb_tree(sql: str, schema: Mapping[str, Mapping[str, str]] | None = None) -> exp.Expression:
    """Trino SQL -> the DuckDB syntax tree with Trino's answers; the lakehouse catalog prefix (iceberg.ns.t) is
    dropped. `schema`: the Trino column types of the tables read ({"ns.table": {"column": "decimal(12,2)"}})."""
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
    return trino_semantics(typed if typed is not None else tree, sql)


def to_duckdb_sql(sql: str, schema: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """`to_duckdb_tree` as DuckDB's text."""
    return render(to_duckdb_tree(sql, schema), "duckdb")


class DuckDBEngine(SqlEngine):
    capabilities = Capabilities(dialect="duckdb", reads_iceberg_natively=True)

    def __init__(self, catalog: Catalog, protected: tuple[Path, ...] = ()):
        """`protected`: AKKO's own files and folders (the state folder), which no folder DuckDB reads may hold;
        the catalog's SQLite file always is."""
        self.catalog = catalog
        database = sqlite_file(str(catalog.properties.get("uri") or ""))
        # The folders DuckDB may read: the namespaces the step's team reads (the guard on `catalog`), else the
        # warehouse, where every table's files live.
        self.allowed = allowed_folders(catalog, (*protected, *([database] if database else [])))
        self.con = shared_connection(self.allowed)

    def query(self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None) -> pa.Table:
        with LOCK:  # the views registered for this query are the process' database's
            text, views = self._checked(sql, tables, versions)
            try:
                result = gate.run_query(self.con, text, views)
                return _trino_types(result)
            except gate.Refused:
                raise
            except Exception as exc:  # duckdb raises many error classes; all are the query's fault here
                raise AkkoError(
                    f"DuckDB could not run the query: {exc}\n--- as run on DuckDB:\n{text}"
                ) from None

    def explain(self, sql: str, query: str, tables: list[str]) -> pa.Table:
        """DuckDB's plan of the query as translated (EXPLAIN's Trino options do not apply to DuckDB), asked of
        DuckDB's Python API: no EXPLAIN text is run."""
        import pyarrow as pa

        with LOCK:
            text, views = self._checked(query.strip().rstrip(";"), tables, None)
            try:
                plan = gate.relation(self.con, text, views).explain()
            except gate.Refused:
                raise
            except Exception as exc:  # duckdb raises many error classes; all are the query's fault here
                raise AkkoError(f"DuckDB could not explain the query: {exc}") from None
        return pa.table({"Query Plan": [str(plan)]})

    def _checked(
        self, sql: str, tables: list[str], versions: Mapping[str, int] | None
    ) -> tuple[str, frozenset[str]]:
        """The DuckDB SQL of `sql`, once it passed the checks and its tables are registered, and the views it may
        read.

        Checked again here, whoever calls (steps, checks, `akko query`, dbt models): one query of Trino SQL reading
        tables only, nothing DuckDB would answer differently from Trino (the checks that need the tables' column
        types can only run here), and, on the DuckDB tree about to run, no table but the ones registered for it."""
        from akko_orchestrator.plan.sql_sources import unregistered
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
        tree = to_duckdb_tree(sql, schema)
        views = frozenset(name.lower() for name in tables)
        outside = unregistered(tree, views)
        if outside:
            raise AkkoError(
                f"the query reads {', '.join(outside)}, which is not a lakehouse table it names (namespace.table) "
                "nor one of its CTEs; refused"
            )
        return render(tree, "duckdb"), views

    def _register(
        self, tables: list[str], versions: Mapping[str, int] | None = None
    ) -> dict[str, dict[str, str]]:
        """One view per table, pinned to the table's current metadata file (a consistent snapshot), or to the
        snapshot `versions` names for it (lower-case names); returns the tables' columns with their Trino types."""
        from pyiceberg.exceptions import NoSuchTableError

        versions = versions or {}
        schema = {}
        for name in tables:
            try:
                loaded = self.catalog.load_table(name)  # the step's guard refuses another team's table here
            except NoSuchTableError:
                raise AkkoError(
                    f"table {name} does not exist yet: run the pipeline that writes it first"
                ) from None
            self._check_readable(name, loaded.location())
            fields = loaded.schema().fields
            snapshot_id = versions.get(name.lower())
            if snapshot_id is not None:
                fields = _snapshot_schema(loaded, name, snapshot_id).fields
            for statement in _view_statements(name, loaded.metadata_location, snapshot_id):
                gate.register(self.con, statement)
            schema[name] = {field.name: trino_type(field.field_type) for field in fields}
        return schema

    def _check_readable(self, name: str, location: str) -> None:
        """A table stored outside the folders this connection reads (outside the warehouse, or in a namespace's
        folder the team may not read) cannot be read by it: say so, not DuckDB's permission error."""
        folder = warehouse_folder(location)
        inside = folder is not None and any(
            Path(folder).resolve().is_relative_to(Path(allowed).resolve()) for allowed in self.allowed
        )
        if not inside:
            raise AkkoError(
                f"table {name} is stored at {location}, outside the warehouse folders the embedded engine reads for this "
                f"step ({', '.join(self.allowed) or 'none'})"
            )

    def close(self) -> None:
        self.con.close()


def _view_statements(name: str, metadata: str, snapshot_id: int | None) -> list[exp.Expression]:
    """CREATE SCHEMA IF NOT EXISTS "ns"; CREATE OR REPLACE VIEW "ns"."t" AS SELECT * FROM iceberg_scan('<metadata>'
    [, snapshot_from_id = <id>]), as trees."""
    from sqlglot import exp

    namespace, table = split_table(name)
    arguments: list[exp.Expression] = [literal(metadata)]
    if snapshot_id is not None:
        arguments.append(
            exp.EQ(this=exp.column(identifier("snapshot_from_id")), expression=literal(snapshot_id))
        )
    scan = exp.select(exp.Star()).from_(
        exp.Table(this=exp.Anonymous(this="iceberg_scan", expressions=arguments))
    )
    schema = exp.Create(this=exp.Table(this=identifier(namespace)), kind="SCHEMA", exists=True)
    view = exp.Create(
        this=exp.Table(this=identifier(table), db=identifier(namespace)),
        kind="VIEW",
        replace=True,
        expression=scan,
    )
    return [schema, view]


def _trino_types(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """DuckDB sums BIGINTs into HUGEINT (int128); Trino keeps BIGINT. Cast back (by position, in Arrow: no SQL and no
    column name involved), failing on overflow as Trino would."""
    import pyarrow as pa
    import pyarrow.compute as pc

    hugeint = [index for index, column in enumerate(result.description or []) if str(column[1]) == "HUGEINT"]
    table = result.to_arrow_table()
    for index in hugeint:
        try:
            table = table.set_column(index, table.field(index).name, pc.cast(table.column(index), pa.int64()))
        except pa.ArrowInvalid:
            raise AkkoError(
                f"column {table.field(index).name} overflows bigint (as on Trino): cast a term to decimal"
            ) from None
    return table


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
        fields = ", ".join(
            f"{render(identifier(f.name))} {trino_type(f.field_type)}" for f in iceberg_type.fields
        )
        # sql-text-ok below: a type name as Trino shows it, its field names quoted by identifier
        return f"row({fields})"  # sql-text-ok: type name
    return "unknown"


def create(project: Project, catalog: Catalog) -> SqlEngine:
    return DuckDBEngine(catalog, protected=(project.state_dir,))
