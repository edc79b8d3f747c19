"""Step functions of tests/security/test_step_code.py: a `demo` step's code trying every way it might reach
banking's table or write a table itself, and steps that write and then fail, for Airflow's retry."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

ROW = pa.table({"id": pa.array([666], pa.int64())})


def _own_catalog(catalog_uri: str, warehouse: str) -> Any:
    """A catalog the code opens itself on the project's catalog.db: no AKKO object involved."""
    from pyiceberg.catalog import load_catalog

    return load_catalog("akko", type="sql", uri=catalog_uri, warehouse=warehouse)  # akko.yaml `lakehouse`


def _schema() -> Any:
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField

    return Schema(NestedField(1, "id", LongType()))


def _in_a_thread(write: Callable[[], Any]) -> Any:
    """`write` in a thread of the code's own (a new thread starts with an empty context)."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if outcome:
        raise outcome[0]


def _attempts(ctx: Any, catalog_uri: str, warehouse: str) -> Iterator[tuple[str, Callable[[], Any]]]:
    accounts = "banking.accounts"
    yield "ctx.platform_catalog", lambda: ctx.platform_catalog.load_table(accounts).append(ROW)
    yield "ctx.sql_engine.con", lambda: ctx.sql_engine.con.execute("SELECT 1")
    yield "ctx.project", lambda: ctx.project.profile
    yield "ctx.guard", lambda: ctx.guard
    yield "vars(ctx)", lambda: vars(ctx)
    yield "ctx.__dict__", lambda: ctx.__dict__
    yield "vars(ctx.catalog)", lambda: vars(ctx.catalog)
    yield "ctx.catalog append", lambda: ctx.catalog.load_table(accounts).append(ROW)
    yield "ctx.catalog overwrite", lambda: ctx.catalog.load_table(accounts).overwrite(ROW)
    yield "ctx.catalog transaction", lambda: ctx.catalog.load_table(accounts).transaction()
    yield "ctx.catalog table.catalog", lambda: ctx.catalog.load_table(accounts).catalog
    yield "ctx.catalog table.io", lambda: ctx.catalog.load_table(accounts).io
    yield "ctx.catalog table.metadata", lambda: ctx.catalog.load_table(accounts).metadata
    yield "ctx.catalog scan.io", lambda: ctx.catalog.load_table(accounts).scan().io
    yield "ctx.catalog create_table", lambda: ctx.catalog.create_table("banking.evil", schema=_schema())
    yield "ctx.catalog drop_table", lambda: ctx.catalog.drop_table(accounts)
    yield "ctx.catalog commit_table", lambda: ctx.catalog.commit_table(None, (), ())
    yield "ctx.object_store.fs", lambda: ctx.object_store.fs
    yield "ctx.object_store.project", lambda: ctx.object_store.project
    yield "ctx.query insert", lambda: ctx.query("INSERT INTO banking.accounts VALUES (666)")
    yield "ctx.write", lambda: ctx.write(accounts, ROW)
    own = lambda: _own_catalog(catalog_uri, warehouse)  # noqa: E731
    yield "own catalog append", lambda: own().load_table(accounts).append(ROW)
    yield "own catalog demo append", lambda: own().load_table("demo.ledger").append(ROW)
    yield "own catalog create_table", lambda: own().create_table("demo.evil", schema=_schema())
    yield "own catalog create_namespace", lambda: own().create_namespace("evil")
    yield "own catalog drop_table", lambda: own().drop_table(accounts)
    yield "own catalog rename_table", lambda: own().rename_table(accounts, "banking.renamed")
    yield "own catalog commit_table", lambda: _commit_directly(own())
    yield "own catalog in a thread", lambda: _in_a_thread(lambda: own().load_table(accounts).append(ROW))


def _commit_directly(catalog: Any) -> Any:
    """A property change committed through the catalog's commit_table, not through the table."""
    from pyiceberg.table.update import SetPropertiesUpdate

    table = catalog.load_table("banking.accounts")
    return catalog.commit_table(table, (), (SetPropertiesUpdate(updates={"evil": "yes"}),))


def reach_banking(ctx: Any, catalog_uri: str, warehouse: str) -> dict[str, str]:
    """Every attempt, and how it ended: the exception's class, or `REACHED` (the probe broke through)."""
    outcomes = {}
    for name, attempt in _attempts(ctx, catalog_uri, warehouse):
        try:
            attempt()
        except Exception as exc:  # noqa: BLE001 - the outcome is the point
            outcomes[name] = f"{type(exc).__name__}: {exc}"
        else:
            outcomes[name] = "REACHED"
    return outcomes


def _mark(marks: str, ctx: Any) -> None:
    folder = Path(marks)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ctx.step_id}.{ctx.try_number}").write_text(json.dumps({"try": ctx.try_number}))


def append_then_raise(ctx: Any, marks: str) -> None:
    """The issue's probe: append through the catalog it was handed, then fail."""
    _mark(marks, ctx)
    ctx.catalog.load_table("demo.ledger").append(ROW)
    raise RuntimeError("failing after the append")


def careless_then_retried(ctx: Any, marks: str, catalog_uri: str, warehouse: str) -> pa.Table:
    """Careless code: it swallows the refusal of every write it tries itself (the catalog it was handed, one it
    opens, a thread), fails in its first try, and returns its rows in the second."""
    _mark(marks, ctx)
    writes = (
        lambda: ctx.catalog.load_table("demo.ledger").append(ROW),
        lambda: _own_catalog(catalog_uri, warehouse).load_table("demo.ledger").append(ROW),
        lambda: _in_a_thread(
            lambda: _own_catalog(catalog_uri, warehouse).load_table("demo.ledger").append(ROW)
        ),
    )
    for write in writes:
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - careless on purpose
            ctx.log.warning("write refused: %s", exc)
    if ctx.try_number == 1:
        raise RuntimeError("the first try fails after its writes")
    return pa.table({"id": pa.array([1, 2, 3], pa.int64()), "run": [ctx.run_id] * 3})
