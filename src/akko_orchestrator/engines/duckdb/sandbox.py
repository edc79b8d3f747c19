"""The embedded engine's DuckDB connections: extensions loaded offline, Trino semantics set up, and locked down.

Every connection AKKO opens (steps, checks, `akko query`) reads only the folders its caller may read
(`allowed_folders`): the warehouse folders of the namespaces the step's team may read (`<warehouse>/<namespace>/`),
or the whole warehouse for a process without teams; never AKKO's state folder (catalog, Airflow's files). Then
`enable_external_access` is off with those folders as the only allowed directories, DuckDB's temporary files go to
a private folder of the database (mode 0700, removed when the process is done with it; never `.tmp/` in the working
directory, which DuckDB would otherwise allow too), Python variables are not read as tables, extensions can be
neither installed nor loaded, and `lock_configuration` keeps any SQL from changing that. So even SQL that slipped
through every check cannot read /etc/passwd, another team's files, write a file elsewhere, attach a database or
open a network connection (tests/unit/test_duckdb_sandbox.py, tests/security/test_engine_sandbox.py).

DuckDB has no read-only directory: inside an allowed folder, COPY TO and ATTACH still work. That is closed by the
gate every statement passes (engines/duckdb/gate.py), not here.
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
    from pyiceberg.catalog import Catalog

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
    """A cursor of this process' locked-down database for exactly these folders: loading the three extensions
    costs ~0.2 s, paid once per process and set of folders (every task of `akko run` runs in one process; steps of
    two teams get two databases) instead of once per step. A forked child makes its own (a DuckDB database is not
    shared across a fork). Views are the database's: hold `LOCK` while registering a query's views and running it."""
    key = (os.getpid(), tuple(sorted(_folder(folder) for folder in allowed_directories)))
    with LOCK:
        if key not in _DATABASES:
            _DATABASES[key] = connect(key[1])
        return _DATABASES[key].cursor()


def connect(allowed_directories: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with parquet, avro and iceberg loaded offline, set up for Trino semantics, then locked
    down: it reads and writes no file outside `allowed_directories` (none by default) and its private temporary
    folder, opens no network connection, installs or loads no extension, and its configuration cannot be changed."""
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
    separator: DuckDB matches prefixes, and `/warehouse-evil` must not pass for `/warehouse`) and a private
    temporary folder (DuckDB allows its temporary folder whatever the setting: the default, `.tmp/` of the working
    directory, would be readable and writable by every query). Also for dbt-duckdb's connections
    (dbt/duckdb_plugin.py); each call makes its own temporary folder."""
    folders = [_folder(folder) for folder in allowed_directories]
    con.execute(_set("temp_directory", str(private_temp_directory() / "spill")))
    con.execute(_set("allowed_directories", folders))
    for setting in LOCKED:
        con.execute(setting)


def _set(name: str, value: str | list[str]) -> str:
    """`SET name = value` with the value as literals in the text: a bound parameter would make DuckDB import
    pandas (seconds, once per process) to look at its type."""
    from sqlglot import exp

    from akko_orchestrator.sql.build import render, string

    node = exp.Array(expressions=[string(v) for v in value]) if isinstance(value, list) else string(value)
    item = exp.SetItem(this=exp.EQ(this=exp.column(name), expression=node))
    return render(exp.Set(expressions=[item]), "duckdb")


def _folder(folder: str) -> str:
    return str(Path(folder).resolve()).rstrip("/") + "/"


# In this order: the last one freezes the others (and itself). No Python replacement scans: `FROM data` must not
# read a pyarrow table or DataFrame that happens to be a variable named `data` in AKKO's own code.
LOCKED = (
    "SET allow_community_extensions = false",
    "SET allow_unsigned_extensions = false",
    "SET python_enable_replacements = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


# Temporary folders: one per database under a folder of this user (0700) in the system's temporary folder, named
# by the process that made it. Removed when the process exits; a process that ended without its exit handlers (a
# killed or forked task) leaves one behind, removed by the next process that makes one.
_TEMP_ROOT = "akko-duckdb"
_MADE: list[tuple[int, Path]] = []


def private_temp_directory() -> Path:
    """A new folder only this user can enter, for one database's temporary files."""
    import atexit
    import tempfile

    root = Path(tempfile.gettempdir()) / f"{_TEMP_ROOT}-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    if root.is_symlink() or root.stat().st_uid != os.getuid():
        raise AkkoError(f"{root} is not a folder of this user: remove it (DuckDB's temporary files go there)")
    root.chmod(0o700)
    _remove_stale(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    if not _MADE:
        atexit.register(_remove_made)
    _MADE.append((os.getpid(), folder))
    return folder


def _remove_made() -> None:
    """At exit: the folders this process made (a forked child inherits the list and the handler, not the folders)."""
    import shutil

    for pid, folder in _MADE:
        if pid == os.getpid():
            shutil.rmtree(folder, ignore_errors=True)


def _remove_stale(root: Path) -> None:
    """Folders of processes that no longer run."""
    import shutil

    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def allowed_folders(catalog: Catalog, protected: Iterable[Path] = ()) -> list[str]:
    """The folders a connection for `catalog` may read: with a team's guard on the catalog
    (runtime/tenancy.py), `<warehouse>/<namespace>` for each namespace the team may read, else the warehouse;
    none for a warehouse that is no local folder. Never a folder holding one of `protected` (AKKO's state folder,
    the catalog's database): refused, naming the setting to change."""
    from akko_orchestrator.runtime.tenancy import catalog_guard

    warehouse = warehouse_folder(str(catalog.properties.get("warehouse") or ""))
    if not warehouse:
        return []
    guard = catalog_guard(catalog)
    folders = (
        [warehouse] if guard is None else [str(Path(warehouse) / ns) for ns in guard.readable_namespaces()]
    )
    for folder in folders:
        inside = Path(folder).resolve()
        for path in protected:
            if Path(path).resolve().is_relative_to(inside):
                raise AkkoError(
                    f"the embedded engine would read {folder}, which holds AKKO's own {path}: keep the "
                    "warehouse apart from the state folder and the catalog (akko.yaml `state_dir`, the profile's "
                    "catalog `warehouse`)"
                )
    return folders


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` catalog URI (None for another database, or SQLite in memory)."""
    from sqlalchemy.engine import make_url

    if not uri.startswith("sqlite:"):
        return None
    database = make_url(uri).database
    return Path(database) if database and database != ":memory:" else None


def warehouse_folder(location: str) -> str | None:
    """The local folder of a warehouse location (`file:///x` or `/x`); None for an object store (s3://...), which
    the embedded engine cannot read anyway (no httpfs)."""
    from urllib.parse import unquote, urlsplit

    if location.startswith("file:"):
        return unquote(urlsplit(location).path)
    return None if "://" in location else location
