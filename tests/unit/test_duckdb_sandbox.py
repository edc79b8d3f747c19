"""The embedded engine's DuckDB connection is locked down (engines/duckdb/sandbox.py): even SQL that slipped past
the Trino allow-list, sent to DuckDB as is, reads no file outside the warehouse, writes no file, attaches no
database, installs or loads no extension, opens no network connection, and cannot undo any of that."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.engines.duckdb.engine import DuckDBEngine
from akko_orchestrator.engines.duckdb.sandbox import extension_path, warehouse_folder
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    warehouse = tmp_path / "warehouse"
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=warehouse.as_uri())
    write_table(catalog, Output(table="demo.sales"), pa.table({"id": [1, 2, 3]}), {})
    engine = DuckDBEngine(catalog)
    yield engine
    engine.close()


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A loopback TCP port that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, address = server.accept()
            except OSError:
                continue
            seen.append(f"{address[0]}:{address[1]}")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(timeout=5)
    server.close()


def raw(engine: DuckDBEngine, sql: str) -> str:
    """Run `sql` on the engine's DuckDB connection as is (no allow-list): the error it raises."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - DuckDB's error classes vary by refusal
        engine.con.execute(sql).fetchall()
    return str(raised.value)


def test_the_warehouse_is_readable_through_the_engine(engine: DuckDBEngine) -> None:
    assert engine.query("SELECT count(*) AS n FROM demo.sales", ["demo.sales"]).to_pylist() == [{"n": 3}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_csv('{warehouse}/../../../../etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_parquet('{outside}/*.parquet')",
    ],
)
def test_no_file_outside_the_warehouse_is_read(engine: DuckDBEngine, tmp_path: Path, sql: str) -> None:
    (tmp_path / "outside").mkdir()
    text = sql.format(warehouse=engine.allowed[0], outside=tmp_path / "outside")
    assert "Permission Error" in raw(engine, text)


def test_a_folder_beside_the_warehouse_is_not_inside_it(engine: DuckDBEngine, tmp_path: Path) -> None:
    evil = Path(f"{engine.allowed[0].rstrip('/')}-evil")
    evil.mkdir()
    (evil / "x.csv").write_text("secret\n1\n")
    assert "Permission Error" in raw(engine, f"SELECT * FROM read_csv('{evil / 'x.csv'}')")


def test_no_file_is_written_outside(engine: DuckDBEngine, tmp_path: Path) -> None:
    target = tmp_path / "exported.csv"
    assert "Permission Error" in raw(engine, f"COPY (SELECT 1) TO '{target}'")
    assert "Permission Error" in raw(engine, f"EXPORT DATABASE '{tmp_path / 'dump'}'")
    assert not target.exists() and not (tmp_path / "dump").exists()


def test_no_database_is_attached(engine: DuckDBEngine, tmp_path: Path) -> None:
    assert "Permission Error" in raw(engine, f"ATTACH '{tmp_path / 'other.db'}' AS other")
    assert not (tmp_path / "other.db").exists()


def test_no_extension_is_installed_or_loaded(engine: DuckDBEngine, tmp_path: Path) -> None:
    assert "Permission Error" in raw(engine, "INSTALL httpfs")
    assert "disabled" in raw(engine, "LOAD httpfs")
    planted = tmp_path / "evil.duckdb_extension"  # a copy of a real extension, under another name
    planted.write_bytes(extension_path("avro").read_bytes())
    assert "disabled" in raw(engine, f"LOAD '{planted}'")


@pytest.mark.parametrize(
    "setting",
    [
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET allowed_paths = ['/etc/passwd']",
        "SET autoinstall_known_extensions = true",
        "SET lock_configuration = false",
    ],
)
def test_the_configuration_is_locked(engine: DuckDBEngine, setting: str) -> None:
    assert "Cannot change configuration option" in raw(engine, setting)


def test_no_network_connection_is_opened(engine: DuckDBEngine, listener: tuple[int, list[str]]) -> None:
    port, seen = listener
    for sql in (
        f"SELECT * FROM read_csv('http://127.0.0.1:{port}/x.csv')",
        f"SELECT * FROM read_parquet('https://127.0.0.1:{port}/x.parquet')",
        f"ATTACH 'http://127.0.0.1:{port}/x.db' AS remote",
    ):
        raw(engine, sql)
    assert seen == []


def test_a_table_outside_the_warehouse_is_refused_by_name(tmp_path: Path) -> None:
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=(tmp_path / "wh").as_uri())
    catalog.create_namespace("demo")
    elsewhere = (tmp_path / "elsewhere").as_uri()
    catalog.create_table("demo.far", pa.schema([("id", pa.int64())]), location=elsewhere)
    engine = DuckDBEngine(catalog)
    try:
        with pytest.raises(AkkoError, match="demo.far is stored at .*outside the warehouse"):
            engine.query("SELECT * FROM demo.far", ["demo.far"])
    finally:
        engine.close()


def test_the_warehouse_folder_of_a_location() -> None:
    assert warehouse_folder("file:///srv/akko/warehouse") == "/srv/akko/warehouse"
    assert warehouse_folder("file:///srv/with%20space") == "/srv/with space"
    assert warehouse_folder("/srv/akko/warehouse") == "/srv/akko/warehouse"
    assert warehouse_folder("s3://akko-warehouse") is None
