"""DuckDB as the embedded SQL engine: Trino SQL transpiled by sqlglot, Iceberg tables read with DuckDB's iceberg
extension at the snapshot current when the step starts. Results return as Arrow and are written by pyiceberg.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.engines.base import Capabilities, SqlEngine, register
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import split_table

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project

# Loaded from the duckdb-extension-* PyPI packages in this order (iceberg needs the other two); never downloaded.
EXTENSIONS = ("parquet", "avro", "iceberg")


def extension_path(name: str) -> Path:
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise AkkoError(f"DuckDB extension package missing: install duckdb-extension-{name}") from None
    found = sorted(Path(str(module.__file__)).parent.glob("extensions/*/*.duckdb_extension"))
    if not found:
        raise AkkoError(f"duckdb-extension-{name} ships no extension binary")
    return found[-1]


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with parquet, avro and iceberg loaded offline."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in EXTENSIONS:
        con.load_extension(str(extension_path(name)))
    return con


def to_duckdb_sql(sql: str) -> str:
    """Trino SQL -> DuckDB SQL; the lakehouse catalog prefix (iceberg.ns.t) is dropped."""
    import sqlglot
    from sqlglot import exp

    from akko_orchestrator.plan.builder import LAKEHOUSE_SQL_CATALOG

    tree = sqlglot.parse_one(sql, read="trino")
    for table in tree.find_all(exp.Table):
        if table.catalog.lower() == LAKEHOUSE_SQL_CATALOG:
            table.set("catalog", None)
    return tree.sql(dialect="duckdb")


class DuckDBEngine(SqlEngine):
    capabilities = Capabilities(dialect="duckdb", reads_iceberg_natively=True)

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.con = connect()

    def query(self, sql: str, tables: list[str]) -> pa.Table:
        self._register(tables)
        translated = to_duckdb_sql(sql)
        try:
            return self._trino_types(self.con.sql(translated)).to_arrow_table()
        except Exception as exc:  # duckdb raises many error classes; all are the query's fault here
            raise AkkoError(
                f"DuckDB could not run the query: {exc}\n--- as run on DuckDB:\n{translated}"
            ) from None

    def _register(self, tables: list[str]) -> None:
        """One view per table, pinned to the table's current metadata file (a consistent snapshot)."""
        from pyiceberg.exceptions import NoSuchTableError

        for name in tables:
            namespace, table = split_table(name)
            try:
                location = self.catalog.load_table(name).metadata_location
            except NoSuchTableError:
                raise AkkoError(
                    f"table {name} does not exist yet: run the pipeline that writes it first"
                ) from None
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{namespace}"."{table}" AS SELECT * FROM iceberg_scan(\'{_quote(location)}\')'
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


def _quote(text: str) -> str:
    return text.replace("'", "''")


@register("duckdb")
def _factory(project: Project, catalog: Catalog) -> SqlEngine:
    return DuckDBEngine(catalog)
