"""Issue 21, class 6 (user code gets platform handles): a `demo` python step tries every attribute path of its
`ctx` (and a catalog it opens itself) to reach banking's table; a walk of everything `ctx` hands over finds no
platform object; the object store it gets keeps to the team's folders; `ctx.query` reads only what the team may
read; the repo's own step functions work with it. Real components: the demo project with its teams, pyiceberg on
SQLite, DuckDB. Class 8 (writes outside the gate) is tests/security/test_step_code_writes.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import Project
from akko_orchestrator.config.tenancy import TenancyError
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.step_api import StepApi
from akko_orchestrator.runtime.transforms import run_python
from akko_orchestrator.spec.models import PythonStep
from tests.security.step_code_project import catalog_params, make_project, planned, state, step_ctx


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    yield from make_project(tmp_path_factory.mktemp("step_code"))


def test_a_demo_step_reaches_banking_through_no_path_of_itsstep_ctx(project: Project) -> None:
    """The issue's probe and its variants: platform handles, the catalog's write methods, the table's catalog and
    FileIO, `vars()`, a catalog the code opens itself (also from a thread of its own): every one refused, banking's
    table and the catalog unchanged."""
    before = state(project, "banking.accounts"), state(project, "demo.ledger")
    step = PythonStep(
        id="probe",
        kind="python",
        function="step_code_functions:reach_banking",
        params=catalog_params(project),
    )
    outcomes = run_python(step_ctx(project), planned(step))["result"]  # type: ignore[index]
    assert len(outcomes) == 29
    reached = {name: outcome for name, outcome in outcomes.items() if outcome == "REACHED"}
    assert not reached, reached
    writes = {"append", "overwrite", "transaction", "create_table", "drop_table", "commit_table"}
    for name, outcome in outcomes.items():
        if name.startswith("own catalog") or name == "ctx.write" or name.split()[-1] in writes:
            assert outcome.startswith("StepWriteRefused: "), (name, outcome)  # the way to write, named
            assert "return the rows" in outcome and "`output:`" in outcome, outcome
        else:
            assert outcome.split(":")[0] in (
                "AttributeError",
                "TypeError",
                "AkkoError",
                "StepWriteRefused",
            ), (
                name,
                outcome,
            )
    assert "not offered to a step's code: ctx.catalog reads" in outcomes["ctx.platform_catalog"]
    assert "ctx.query(sql)" in outcomes["ctx.sql_engine.con"]
    assert outcomes["ctx.query insert"].startswith("AkkoError: ctx.query runs one read-only query: INSERT")
    assert (
        "step step_code.probe: its code changes Iceberg table banking.accounts (_do_commit)"
        in (outcomes["own catalog append"])
    )
    assert "(create_namespace)" in outcomes["own catalog create_namespace"]
    assert "(commit_table)" in outcomes["own catalog commit_table"]
    assert (state(project, "banking.accounts"), state(project, "demo.ledger")) == before
    catalog = open_catalog(project)
    assert not catalog.table_exists("demo.evil") and not catalog.table_exists("banking.renamed")
    assert ("evil",) not in catalog.list_namespaces()


def _forbidden() -> tuple[type, ...]:
    import duckdb
    import fsspec
    from pydantic import SecretStr
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.table import DataScan, Table
    from sqlalchemy.engine import Engine

    from akko_orchestrator.config.models import Profile, ProjectConfig, SecretRef
    from akko_orchestrator.engines.base import SqlEngine
    from akko_orchestrator.lakehouse.object_store import ObjectStore

    return (
        Catalog,
        Table,
        DataScan,
        FileIO,
        Engine,
        duckdb.DuckDBPyConnection,
        SqlEngine,
        StepContext,
        Project,
        ProjectConfig,
        Profile,
        SecretRef,
        SecretStr,
        ObjectStore,
        fsspec.AbstractFileSystem,
    )


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    """What an attribute walk reaches from `obj`: container items, `vars()` (private names too), every
    `__slots__` value, and the public attributes `dir()` lists (properties evaluated, methods not called)."""
    if isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in obj.items())
        return
    if isinstance(obj, list | tuple | set | frozenset):
        yield from ((f"[{i}]", v) for i, v in enumerate(obj))
        return
    yield from ((f".{k}", v) for k, v in getattr(obj, "__dict__", {}).items())
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot != "__weakref__" and hasattr(obj, slot):
                yield f".{slot}", getattr(obj, slot)
    for name in dir(obj):
        if not name.startswith("_"):
            try:
                yield f".{name}", getattr(obj, name)
            except Exception:  # noqa: BLE001, S112 - an attribute that refuses is not reached
                continue


def _walk(root: Any, label: str, depth: int = 7) -> list[str]:
    """Paths from `root` to a forbidden object. Modules, classes and callables are where the walk stops: their
    internals (`__globals__`, `__closure__`) reach all of Python in any process, which is why step code is
    trusted code (docs/security.md)."""
    import inspect
    import types

    forbidden, found, seen = _forbidden(), [], set()
    stack = [(root, label, 0)]
    while stack:
        obj, path, level = stack.pop()
        if isinstance(obj, forbidden):
            found.append(f"{path}: {type(obj).__name__}")
            continue
        if (
            id(obj) in seen
            or level >= depth
            or isinstance(obj, str | bytes | int | float | bool | type(None))
        ):
            continue
        seen.add(id(obj))
        if isinstance(obj, type | types.ModuleType) or inspect.isroutine(obj) or callable(obj):
            continue
        stack.extend((child, path + step, level + 1) for step, child in _children(obj))
    return found


def test_nothing_ctx_hands_over_leads_to_a_platform_object(project: Project) -> None:
    """A recursive walk of `ctx`, of a table it loads and of a scan of it: no catalog, table or FileIO of
    pyiceberg, no engine or DuckDB connection, no project, profile or secret, no unscoped object store."""
    ctx = step_ctx(project)
    api = StepApi(ctx)
    table = api.catalog.load_table("banking.accounts")
    scan = table.scan()
    assert (
        ctx.sql_engine is not None and ctx.catalog is not None
    )  # the platform side is open, in reach if leaky
    leaks = _walk(vars(ctx), "StepContext")  # the walk finds them where they are
    assert {"StepContext['project']: Project", "StepContext['sql_engine']: DuckDBEngine"} <= set(leaks), leaks
    for obj, label in (
        (api, "ctx"),
        (table, "table"),
        (scan, "scan"),
        (api.object_store, "ctx.object_store"),
    ):
        assert _walk(obj, label) == []
        assert not hasattr(obj, "__dict__")
    # what it does hand over works, and is data
    assert scan.to_arrow().column("id").to_pylist() == [1, 2]
    assert table.name == "banking.accounts" and table.current_snapshot() is not None
    assert api.catalog.list_namespaces() == ["banking", "demo"]  # not `ops`: demo may not read it
    with pytest.raises(TenancyError, match="ops.secrets .* may not read"):
        api.catalog.load_table("ops.secrets")
    assert "banking.accounts" in ctx.lineage.inputs  # what the code read is recorded for it
    ctx.close()


def test_the_object_store_keeps_to_the_teams_folders(project: Project) -> None:
    """demo's folder is raw/sales: its own keys are read, written, listed and deleted; AKKO's `_akko/`, another
    team's folder, paths, URIs, `..` and a link out of the folder are refused."""
    files = StepApi(step_ctx(project)).object_store
    assert files.write_bytes("raw/sales/probe/a.csv", b"id\n1\n").endswith("raw/sales/probe/a.csv")
    files.write_csv("raw/sales/probe/b.csv", pa.table({"id": [2]}))
    assert files.read_bytes("raw/sales/probe/a.csv") == b"id\n1\n"
    assert files.list("raw/sales/probe") == ["raw/sales/probe/a.csv", "raw/sales/probe/b.csv"]
    store = Path(project.object_store_uri)
    (store / "raw" / "banking").mkdir(parents=True, exist_ok=True)
    (store / "raw" / "banking" / "ledger.csv").write_bytes(b"secret\n")
    (store / "raw" / "sales" / "probe" / "link").symlink_to(store / "raw" / "banking")
    refused = {
        "_akko/staging/x.parquet": "AKKO's own",
        "raw/sales/../../_akko/state.json": "AKKO's own",
        "raw/banking/ledger.csv": "outside the folders of team 'demo'",
        "raw/sales/../banking/ledger.csv": "outside the folders of team 'demo'",
        "raw/sales/probe/link/ledger.csv": "outside the folders of team 'demo'",
        "raw/salesman/x.csv": "outside the folders of team 'demo'",
        "/etc/passwd": "not a path, a URI",
        "../outside.csv": "not a path, a URI",
        "./data/sales.csv": "not a path, a URI",
        "file:///etc/passwd": "not a path, a URI",
        "s3://bucket/raw/sales/x": "not a path, a URI",
    }
    for key, reason in refused.items():
        with pytest.raises(AkkoError, match=reason):
            files.write_bytes(key, b"x")
        with pytest.raises(AkkoError, match=reason):
            files.read_bytes(key)
    assert (store / "raw" / "banking" / "ledger.csv").read_bytes() == b"secret\n"
    assert files.list("raw/sales/probe") == ["raw/sales/probe/a.csv", "raw/sales/probe/b.csv"]  # not the link
    files.delete("raw/sales/probe")
    assert not files.exists("raw/sales/probe/a.csv")
    with pytest.raises(AttributeError, match="ctx.object_store has no attribute 'fs'"):
        files.fs  # noqa: B018
    # without `teams:` every folder is open, AKKO's own still is not
    open_project = Project(
        project.root, project.config.model_copy(update={"teams": {}}), project.profile_name
    )
    anyone = StepApi(step_ctx(open_project, team=None)).object_store
    anyone.write_bytes("raw/anything/x.csv", b"1")
    with pytest.raises(TenancyError, match="AKKO's own"):
        anyone.write_bytes("_akko/staging/x", b"1")


def test_query_reads_only_what_the_team_may_read(project: Project) -> None:
    ctx = step_ctx(project)
    api = StepApi(ctx)
    assert api.query("SELECT count(*) AS n FROM demo.ledger").to_pylist() == [{"n": 1}]
    assert api.query("SELECT sum(id) AS s FROM iceberg.banking.accounts").to_pylist() == [{"s": 3}]
    with pytest.raises(TenancyError, match="ops.secrets .* may not read"):
        api.query("SELECT * FROM ops.secrets")
    for sql, reason in {
        "DELETE FROM demo.ledger": "DELETE is not a query",
        "SELECT 1; SELECT 2": "a second statement",
        "SELECT * FROM postgresql.akko.raw_accounts": "lakehouse tables only",
        "SELECT * FROM ledger": "lakehouse tables only",
    }.items():
        with pytest.raises(AkkoError, match=reason):
            api.query(sql)
    assert state(project, "demo.ledger")[1] == [7]
    ctx.close()


def test_the_repos_step_functions_work_with_the_facade(project: Project) -> None:
    """pipelines/demo_functions.py lands its CSV in demo's folder through ctx.object_store and reads its params."""
    step = PythonStep(
        id="generate_sales",
        kind="python",
        function="demo_functions:generate_sales",
        params={"key": "raw/sales/sales.csv"},
    )
    ctx = step_ctx(project, step="generate_sales", params={"bad_rows": 2})
    result = run_python(ctx, planned(step))["result"]  # type: ignore[index]
    assert result["rows"] == 14 and result["path"].endswith("raw/sales/sales.csv")
    elsewhere = step.model_copy(update={"params": {"key": "raw/banking/sales.csv"}})
    with pytest.raises(TenancyError, match="outside the folders of team 'demo'"):
        run_python(step_ctx(project, step="generate_sales"), planned(elsewhere))
