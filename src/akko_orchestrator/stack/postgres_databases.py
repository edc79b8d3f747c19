"""The stack PostgreSQL's databases and roles: each database owned by one login role, the schemas in it, the
Iceberg JDBC catalog tables, the banking demo's source rows, and the URLs clients reach a database by.

The catalog database holds Iceberg's JDBC catalog tables, created here with the DDL of Iceberg's own
`JdbcUtil` (schema V1: `iceberg_type` column), the schema pyiceberg's SqlCatalog, Trino's
`iceberg.catalog.type=jdbc` and Spark's `JdbcCatalog` all read and write; creating them up front, owned by the
catalog role, means no client needs DDL rights and none picks its own variant.

Role and database statements are sqlglot trees. sqlglot has no node for PostgreSQL's CREATE ROLE, ALTER ROLE
... PASSWORD, CREATE DATABASE ... OWNER or CREATE SCHEMA ... AUTHORIZATION, so AKKO sends a `SELECT format(<fixed
template>, <names and password as string literals>)` tree and psql's `\\gexec` runs its result: PostgreSQL's own
`%I` and `%L` quote each name and the password (the template is constant text, never assembled).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from akko_orchestrator.sql.build import call, column, identifier, render, string
from akko_orchestrator.stack.postgres_tools import Psql

# Sample accounts of AKKO's banking demo in the operational database; a user's own table is never touched.
BANKING_SEED = """\
DO $$
BEGIN
  IF to_regclass('banking.accounts') IS NULL THEN
    CREATE TABLE banking.accounts (
      id integer PRIMARY KEY, owner text NOT NULL, balance numeric(12, 2) NOT NULL, opened date NOT NULL);
    INSERT INTO banking.accounts
      SELECT i, 'owner_' || (i % 7), round((i * 37.5) % 5000, 2), DATE '2024-01-01' + i
      FROM generate_series(1, 50) AS i;
  END IF;
END $$;
"""


@dataclass(frozen=True)
class Database:
    """One database owned by one login role (each role may connect to its own database only)."""

    role: str
    name: str
    schemas: tuple[str, ...] = ()


CATALOG_DB = Database("akko_catalog", "akko_catalog")
OPERATIONAL_DB = Database("akko", "akko", ("akko", "banking"))
AIRFLOW_DB = Database("airflow", "airflow")

# Iceberg's JDBC catalog schema, as org.apache.iceberg.jdbc.JdbcUtil creates it (V0 tables plus the V1
# `iceberg_type` column, which marks TABLE or VIEW rows). Checked against Trino's bundled iceberg-core and
# pyiceberg's models by tests/integration/test_stack_trino.py.
ICEBERG_CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS iceberg_tables(
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name));
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties(
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255),
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key));
"""


@dataclass(frozen=True)
class PostgresEndpoint:
    """How clients reach one database; URLs without a password unless one is passed."""

    host: str
    port: int

    def sqlalchemy_url(self, db: Database, password: str | None = None) -> str:
        return f"postgresql+psycopg2://{self._auth(db.role, password)}@{self.host}:{self.port}/{db.name}"

    def airflow_uri(self, db: Database, password: str) -> str:
        return f"postgres://{self._auth(db.role, password)}@{self.host}:{self.port}/{db.name}"

    def jdbc_url(self, db: Database) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{db.name}"

    @staticmethod
    def _auth(user: str, password: str | None) -> str:
        auth = quote(user, safe="")
        return f"{auth}:{quote(password, safe='')}" if password is not None else auth


def provision_databases(psql: Psql, databases: list[Database], passwords: dict[str, str]) -> None:
    """Roles, databases, schemas and the Iceberg catalog tables; idempotent, so every start re-applies it
    (and re-sets passwords from passwords.json)."""
    for db in databases:
        psql.execute("postgres", role_and_database_sql(db, passwords[db.role]))
        if db.schemas:
            psql.execute(db.name, script(*[schema_statement(schema, db.role) for schema in db.schemas]))
    # Created as the catalog role, so it owns them (JdbcCatalog may ALTER them to upgrade the schema).
    psql.execute(CATALOG_DB.name, script(set_role(CATALOG_DB.role), ICEBERG_CATALOG_DDL))
    # The banking demo's source rows (pipelines/banking_replication.yaml), only where the table is missing.
    psql.execute(OPERATIONAL_DB.name, script(set_role(OPERATIONAL_DB.role), BANKING_SEED))


def role_and_database_sql(db: Database, password: str) -> str:
    """psql script (read from stdin): create or update the role, then the database it owns (CREATE DATABASE
    cannot run in a transaction block, hence `\\gexec` for each)."""
    from sqlglot import exp

    # A failing statement is logged with its text unless log_min_error_statement says otherwise: never the password.
    quiet = exp.Set(
        expressions=[
            exp.SetItem(this=exp.EQ(this=column("log_min_error_statement"), expression=string("panic")))
        ]
    )
    role_missing = _missing("pg_roles", "rolname", db.role)
    database_missing = _missing("pg_database", "datname", db.name)
    return script(
        render(quiet, "postgres"),
        _gexec(_formatted("CREATE ROLE %I LOGIN", db.role).where(role_missing, copy=False)),
        _gexec(_formatted("ALTER ROLE %I WITH LOGIN PASSWORD %L", db.role, password)),
        _gexec(
            _formatted("CREATE DATABASE %I OWNER %I", db.name, db.role).where(database_missing, copy=False)
        ),
        _gexec(_formatted("REVOKE CONNECT ON DATABASE %I FROM PUBLIC", db.name)),
    )


def schema_statement(schema: str, owner: str) -> str:
    """`CREATE SCHEMA IF NOT EXISTS <schema> AUTHORIZATION <owner>`, run through `\\gexec`."""
    return _gexec(_formatted("CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I", schema, owner))


def set_role(role: str) -> str:
    """`SET ROLE "role"`: the statements after it run as (and create objects owned by) that role."""
    from sqlglot import exp

    return render(exp.Set(expressions=[exp.SetItem(this=identifier(role), kind="ROLE")]), "postgres")


def script(*statements: str) -> str:
    """A psql script of whole statements: each a rendered tree (ending `;` or `\\gexec`) or a constant script."""
    ended = [s if s.rstrip().endswith((";", "\\gexec")) else s.rstrip() + ";" for s in statements]
    return "\n".join(ended) + "\n"


def _formatted(template: str, *values: str):  # -> exp.Select
    """`SELECT format(<template>, <values>)`: the statement PostgreSQL writes, names quoted by its `%I`, text by
    its `%L`."""
    from sqlglot import exp

    return exp.Select(
        expressions=[call("format", string(template), *map(string, values), dialect="postgres")]
    )


def _missing(catalog_table: str, name_column: str, name: str):  # -> exp.Expression
    """`NOT EXISTS (SELECT 1 FROM <catalog_table> WHERE <name_column> = <name>)`."""
    from sqlglot import exp

    found = exp.Select(expressions=[exp.Literal.number(1)]).from_(exp.Table(this=identifier(catalog_table)))
    found = found.where(exp.EQ(this=column(name_column), expression=string(name)), copy=False)
    return exp.Not(this=exp.Exists(this=found))


def _gexec(select) -> str:  # noqa: ANN001 (an exp.Select)
    """A SELECT whose one value psql runs as a statement (its `\\gexec` meta-command ends the line)."""
    return render(select, "postgres") + " \\gexec"
