"""The stack's PostgreSQL provisioning (stack/postgres_databases.py) on a real PostgreSQL server: the statements
AKKO sends are `SELECT format(<constant template>, <string literals>)` trees run through psql's `\\gexec`, so a
role, database, schema or password holding quotes, a `;`, `--`, a backslash or a newline is created with exactly
that name (and nothing else runs). The server is the distribution's, started in a temporary state folder by
AKKO's own PostgresService (initdb, pg_ctl, the stack's databases), stopped after the module."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot

from akko_orchestrator.stack.base import StackPaths
from akko_orchestrator.stack.postgres import PostgresService
from akko_orchestrator.stack.postgres_databases import (
    CATALOG_DB,
    OPERATIONAL_DB,
    Database,
    provision_databases,
    role_and_database_sql,
)
from akko_orchestrator.stack.postgres_tools import SUPERUSER, PgTools, Psql, find_bin_dir
from akko_orchestrator.stack.process import LOOPBACK, StackError

HOSTILE_ROLE = 'r"x; DROP ROLE postgres; --'
HOSTILE_DB = "d'b\"; /* */ CREATE ROLE evil --"
HOSTILE_SCHEMA = "s`c\\h\nema ü;"
HOSTILE_PASSWORD = "p'w\"\\; ALTER ROLE postgres PASSWORD 'x' --\n€"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[PostgresService, int, dict[str, str]]]:
    try:
        find_bin_dir()
    except StackError as exc:
        pytest.skip(str(exc))
    base = Path(tempfile.mkdtemp(prefix="akko-pg-test-", dir="/tmp"))  # the server's user must reach it
    os.chmod(base, 0o755)
    service = PostgresService(
        StackPaths(state=base / "stack", cache=base / "cache"),
        catalog_name="akko",
        warehouse=f"file://{base / 'warehouse'}",
    )
    try:
        env = service.start()  # provisions the stack's own databases with the statements under test
        passwords = service._passwords()
        yield service, int(env.variables["AKKO_PG_PORT"]), passwords
    finally:
        service.stop()
        shutil.rmtree(base, ignore_errors=True)


def _connect(port: int, user: str, password: str, dbname: str):  # -> psycopg2 connection
    import psycopg2

    return psycopg2.connect(host=LOOPBACK, port=port, user=user, password=password, dbname=dbname)


def test_the_stacks_databases_are_provisioned_as_before(server) -> None:
    service, port, passwords = server
    for db in (CATALOG_DB, OPERATIONAL_DB):
        with _connect(port, db.role, passwords[db.role], db.name) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert cur.fetchone() == (db.role,)
            cur.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(%s)",
                [list(db.schemas)],
            )
            assert sorted(cur.fetchall()) == sorted((s, db.role) for s in db.schemas)
    with (
        _connect(port, CATALOG_DB.role, passwords[CATALOG_DB.role], CATALOG_DB.name) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT tablename, tableowner FROM pg_tables WHERE tablename LIKE 'iceberg%%' ORDER BY 1")
        assert cur.fetchall() == [
            ("iceberg_namespace_properties", CATALOG_DB.role),
            ("iceberg_tables", CATALOG_DB.role),
        ]
    operational = _connect(port, OPERATIONAL_DB.role, passwords[OPERATIONAL_DB.role], OPERATIONAL_DB.name)
    with operational as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM banking.accounts")
        assert cur.fetchone() == (50,)


def test_hostile_names_and_password_are_exactly_what_is_created(server) -> None:
    service, port, passwords = server
    hostile = Database(HOSTILE_ROLE, HOSTILE_DB, (HOSTILE_SCHEMA,))
    runner = PgTools(find_bin_dir(), service.server_dir)
    psql = Psql(runner, port, passwords[SUPERUSER])
    everything = {**passwords, HOSTILE_ROLE: HOSTILE_PASSWORD}
    for _ in range(2):  # idempotent: the second run changes nothing and fails on nothing
        provision_databases(psql, [CATALOG_DB, OPERATIONAL_DB, hostile], everything)
    with _connect(port, SUPERUSER, passwords[SUPERUSER], "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%%' ORDER BY 1")
        assert [r for (r,) in cur.fetchall()] == sorted(["akko", "akko_catalog", SUPERUSER, HOSTILE_ROLE])
        cur.execute(
            "SELECT datname, pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s",
            [HOSTILE_DB],
        )
        [(name, owner, acl)] = cur.fetchall()
        assert (name, owner) == (HOSTILE_DB, HOSTILE_ROLE)
        assert not any(
            entry.startswith("=") and "c" in entry.split("/")[0] for entry in acl.strip("{}").split(",")
        )
    # the password is the one given, byte for byte: the role logs in with it to its own database
    with _connect(port, HOSTILE_ROLE, HOSTILE_PASSWORD, HOSTILE_DB) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [HOSTILE_SCHEMA]
        )
        assert cur.fetchall() == [(HOSTILE_SCHEMA, HOSTILE_ROLE)]
    with _connect(port, SUPERUSER, passwords[SUPERUSER], "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'evil'")
        assert cur.fetchone() == (0,)


def test_each_statement_is_one_select_of_constant_template_and_string_literals() -> None:
    script = role_and_database_sql(Database(HOSTILE_ROLE, HOSTILE_DB), HOSTILE_PASSWORD)
    first, _, rest = script.partition("\n")
    assert first == "SET \"log_min_error_statement\" = 'panic';"
    *statements, tail = rest.split(" \\gexec\n")  # the password holds a newline: split on psql's command
    assert len(statements) == 4 and tail == ""
    values = []
    for text in statements:
        [tree] = sqlglot.parse(text, read="postgres")
        assert isinstance(tree, sqlglot.exp.Select)
        strings = [lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string]
        values.append(strings)
    assert values[0] == ["CREATE ROLE %I LOGIN", HOSTILE_ROLE, HOSTILE_ROLE]
    assert values[1] == ["ALTER ROLE %I WITH LOGIN PASSWORD %L", HOSTILE_ROLE, HOSTILE_PASSWORD]
    assert values[2] == ["CREATE DATABASE %I OWNER %I", HOSTILE_DB, HOSTILE_ROLE, HOSTILE_DB]
    assert values[3] == ["REVOKE CONNECT ON DATABASE %I FROM PUBLIC", HOSTILE_DB]
