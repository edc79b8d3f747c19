"""The embedded engine's DuckDB connections: extensions loaded offline, Trino semantics set up, and locked down.

Every connection AKKO opens (steps, checks, `akko query`) reads only the warehouse: `enable_external_access` is off
with the warehouse as the one allowed directory, extensions can be neither installed nor loaded once it is set up,
and `lock_configuration` keeps any SQL from changing that. So even SQL that slipped through the Trino allow-list
(`plan/trino_sql.py`) cannot read /etc/passwd, write a file elsewhere, attach a database or open a network
connection (tests/unit/test_duckdb_sandbox.py tries each).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import duckdb

# Loaded from the duckdb-extension-* PyPI packages in this order (iceberg needs the other two); never downloaded.
EXTENSIONS = ("parquet", "avro", "iceberg")
# Trino semantics on every connection: `/` of two integers is an integer division (truncated toward zero), also
# where sqlglot cannot tell the operands' types; and the macros the rewrites below call:
# - akko_div_half_up(n, d): n / d for integers, rounded half away from zero (Trino's decimal division);
# - akko_fdiv(a, b): a / b for doubles with IEEE infinities and NaN (DuckDB's `/` with integer_division answers
#   NULL for a zero divisor).
SETUP = (
    "SET GLOBAL integer_division = true",  # GLOBAL: every cursor of the database has it
    "CREATE MACRO akko_nonzero(d) AS CASE WHEN d = 0 THEN error('Division by zero') ELSE d END",
    "CREATE MACRO akko_div_half_up(n, d) AS CASE WHEN d = 0 THEN error('Division by zero') "
    "ELSE sign(n) * sign(d) * ((2 * abs(n) + abs(d)) // (2 * abs(d))) END",
    "CREATE MACRO akko_fdiv(a, b) AS CASE WHEN b <> 0 OR a IS NULL OR b IS NULL THEN a / b "
    "WHEN a > 0 THEN CAST('Infinity' AS DOUBLE) WHEN a < 0 THEN CAST('-Infinity' AS DOUBLE) "
    "ELSE CAST('NaN' AS DOUBLE) END",
)


def extension_path(name: str) -> Path:
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise AkkoError(f"DuckDB extension package missing: install duckdb-extension-{name}") from None
    found = sorted(Path(str(module.__file__)).parent.glob("extensions/*/*.duckdb_extension"))
    if not found:
        raise AkkoError(f"duckdb-extension-{name} ships no extension binary")
    return found[-1]


_DATABASES: dict[tuple[int, tuple[str, ...]], duckdb.DuckDBPyConnection] = {}
LOCK = threading.RLock()  # registering a query's views and running it: one at a time in a process


def shared_connection(allowed_directories: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """A cursor of this process' locked-down database for these folders: loading the three extensions costs ~0.2 s,
    paid once per process (every task of `akko run` runs in one process) instead of once per step. A forked child
    makes its own (a DuckDB database is not shared across a fork). Views are the database's: hold `LOCK` while
    registering a query's views and running it."""
    key = (os.getpid(), tuple(sorted(allowed_directories)))
    with LOCK:
        if key not in _DATABASES:
            _DATABASES[key] = connect(key[1])
        return _DATABASES[key].cursor()


def connect(allowed_directories: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with parquet, avro and iceberg loaded offline, set up for Trino semantics, then locked
    down: it reads and writes no file outside `allowed_directories` (none by default), opens no network
    connection, installs or loads no extension, and its configuration cannot be changed."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in EXTENSIONS:
        con.load_extension(str(extension_path(name)))
    for statement in SETUP:
        con.execute(statement)
    lock_down(con, allowed_directories)
    return con


def lock_down(con: duckdb.DuckDBPyConnection, allowed_directories: Iterable[str]) -> None:
    """Extensions are loaded by now: from here on DuckDB reaches only the allowed folders (each with a trailing
    separator: DuckDB matches prefixes, and `/warehouse-evil` must not pass for `/warehouse`)."""
    folders = [str(Path(folder).resolve()).rstrip("/") + "/" for folder in allowed_directories]
    con.execute("SET allowed_directories = ?", [folders])
    for setting in LOCKED:
        con.execute(setting)


# In this order: the last one freezes the others (and itself).
LOCKED = (
    "SET allow_community_extensions = false",
    "SET allow_unsigned_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


def warehouse_folder(location: str) -> str | None:
    """The local folder of a warehouse location (`file:///x` or `/x`); None for an object store (s3://...), which
    the embedded engine cannot read anyway (no httpfs)."""
    from urllib.parse import unquote, urlsplit

    if location.startswith("file:"):
        return unquote(urlsplit(location).path)
    return None if "://" in location else location
