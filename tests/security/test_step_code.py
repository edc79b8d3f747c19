"""Issue 21, classes 6 and 8: what a step's own code gets, and the writes it makes itself.

Class 6 (user code gets platform handles): a `demo` python step tries every attribute path of its `ctx` (and a
catalog it opens itself) to reach banking's table; a walk of everything `ctx` hands over finds no platform object;
the object store it gets keeps to the team's folders; `ctx.query` reads only what the team may read.
Class 8 (writes outside the gate): a step's code commits nothing itself, through any catalog or thread, even inside
AKKO's writer scope; through Airflow's real retry (`retries: 1`), an append-then-raise leaves nothing and the rows a
step returns are written once; a Spark step whose earlier try published runs nothing again.

Real components throughout: the repo's demo project with its teams, pyiceberg on SQLite, DuckDB, Airflow's
`dag.test()` for the retries (no Spark: the Spark case stops before a session is needed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.config.tenancy import TenancyError
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.step_api import StepApi, StepWriteRefused
from akko_orchestrator.runtime.transforms import run_python
from akko_orchestrator.spec.models import Output, PythonStep
from tests.conftest import copy_project

HERE = Path(__file__).parent / "step_code"
BANKING = pa.table({"id": pa.array([1, 2], pa.int64())})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The demo project as shipped (teams demo and banking), demo allowed to read banking (never to write it),
    banking.accounts, demo.ledger and ops.secrets in its lakehouse."""
    root = copy_project(tmp_path_factory.mktemp("step_code") / "project", teams=True)
    for extra in HERE.iterdir():
        if extra.suffix in (".py", ".yaml"):
            shutil.copy(extra, root / "pipelines" / extra.name)
    config = yaml.safe_load((root / "akko.yaml").read_text())
    config["teams"]["demo"]["reads"] = ["banking"]
    (root / "akko.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    saved = {k: os.environ.get(k) for k in ("AKKO_PROJECT_DIR", "AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"))
    os.environ.pop("AKKO_PROFILE", None)
    loaded = load_project(root)
    catalog = open_catalog(loaded)
    write_table(catalog, Output(table="banking.accounts"), BANKING)
    write_table(catalog, Output(table="demo.ledger"), pa.table({"id": pa.array([7], pa.int64())}))
    write_table(catalog, Output(table="ops.secrets"), pa.table({"id": pa.array([9], pa.int64())}))
    yield loaded
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _ctx(project: Project, team: str | None = "demo", step: str = "probe", **kw: Any) -> StepContext:
    return StepContext(project, pipeline_id="step_code", step_id=step, team=team, **kw)


def _planned(step: PythonStep, reads: list[str] | None = None) -> PlannedStep:
    output = step.output
    return PlannedStep(
        step=step, reads=tuple(reads or []), writes=output.table if output else None, upstream=()
    )


def _state(project: Project, table: str) -> tuple[int | None, list[int], dict[str, str]]:
    loaded = open_catalog(project).load_table(table)
    snapshot = loaded.current_snapshot()
    ids = sorted(loaded.scan().to_arrow().column("id").to_pylist())
    return (snapshot.snapshot_id if snapshot else None), ids, dict(loaded.properties)


def _catalog_params(project: Project) -> dict[str, str]:
    return {"catalog_uri": project.catalog_uri, "warehouse": project.warehouse}


# ---------------------------------------------------------------------------------------------------- class 6


def test_a_demo_step_reaches_banking_through_no_path_of_its_ctx(project: Project) -> None:
    """The issue's probe and its variants: platform handles, the catalog's write methods, the table's catalog and
    FileIO, `vars()`, a catalog the code opens itself (also from a thread of its own): every one refused, banking's
    table and the catalog unchanged."""
    before = _state(project, "banking.accounts"), _state(project, "demo.ledger")
    step = PythonStep(
        id="probe",
        kind="python",
        function="step_code_functions:reach_banking",
        params=_catalog_params(project),
    )
    outcomes = run_python(_ctx(project), _planned(step))["result"]  # type: ignore[index]
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
    assert (_state(project, "banking.accounts"), _state(project, "demo.ledger")) == before
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
    ctx = _ctx(project)
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
    files = StepApi(_ctx(project)).object_store
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
    anyone = StepApi(_ctx(open_project, team=None)).object_store
    anyone.write_bytes("raw/anything/x.csv", b"1")
    with pytest.raises(TenancyError, match="AKKO's own"):
        anyone.write_bytes("_akko/staging/x", b"1")


def test_query_reads_only_what_the_team_may_read(project: Project) -> None:
    ctx = _ctx(project)
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
    assert _state(project, "demo.ledger")[1] == [7]
    ctx.close()


def test_the_repos_step_functions_work_with_the_facade(project: Project) -> None:
    """pipelines/demo_functions.py lands its CSV in demo's folder through ctx.object_store and reads its params."""
    step = PythonStep(
        id="generate_sales",
        kind="python",
        function="demo_functions:generate_sales",
        params={"key": "raw/sales/sales.csv"},
    )
    ctx = _ctx(project, step="generate_sales", params={"bad_rows": 2})
    result = run_python(ctx, _planned(step))["result"]  # type: ignore[index]
    assert result["rows"] == 14 and result["path"].endswith("raw/sales/sales.csv")
    elsewhere = step.model_copy(update={"params": {"key": "raw/banking/sales.csv"}})
    with pytest.raises(TenancyError, match="outside the folders of team 'demo'"):
        run_python(_ctx(project, step="generate_sales"), _planned(elsewhere))


# ---------------------------------------------------------------------------------------------------- class 8


def test_no_commit_while_step_code_runs_even_in_akkos_writer_scope(project: Project) -> None:
    """The second layer alone: inside the user-code scope (nested in the writer scope, as in an AKKO operator),
    a pyiceberg commit through the platform's own catalog is refused; after the code returned, AKKO's writer
    commits as before."""
    from akko_orchestrator.guardrails.iceberg import akko_writer_scope, in_user_code, user_code_scope

    catalog = open_catalog(project)
    before = _state(project, "demo.ledger")
    with akko_writer_scope("step_code.scope"):
        with user_code_scope("step_code.scope"), pytest.raises(StepWriteRefused, match="demo.ledger"):
            catalog.load_table("demo.ledger").append(pa.table({"id": pa.array([8], pa.int64())}))
        assert not in_user_code()
        assert _state(project, "demo.ledger") == before
        written = write_table(
            catalog, Output(table="demo.scoped"), pa.table({"id": pa.array([1], pa.int64())})
        )
    assert written.rows == 1


def test_a_spark_step_published_in_an_earlier_try_runs_nothing_again(
    project: Project, tmp_path: Path
) -> None:
    """Exactly-once for Spark steps, also for a function that commits its table itself (its commits carry the
    run's identity): the retry of a try that published finds its snapshot before the script is even loaded."""
    from akko_orchestrator.runtime.spark_steps import run_spark
    from akko_orchestrator.spec.models import SparkStep

    script = tmp_path / "never.py"
    script.write_text("raise RuntimeError('the script ran again')\n")
    spec_file = tmp_path / "spec.yaml"
    step = SparkStep(id="wrote_itself", kind="spark", script="never.py", output=Output(table="demo.by_spark"))
    first = _ctx(project, step="wrote_itself", run_id="manual__1", try_number=1)
    write_table(first.catalog, Output(table="demo.by_spark"), BANKING, first.snapshot_properties)
    retry = _ctx(project, step="wrote_itself", run_id="manual__1", try_number=2)
    result = run_spark(retry, _planned(step), spec_file)  # type: ignore[arg-type]
    assert result.already_published and result.rows == 2  # type: ignore[union-attr]
    assert retry.lineage.outputs["demo.by_spark"].already_published
    other_run = _ctx(project, step="wrote_itself", run_id="manual__2")
    with pytest.raises(RuntimeError, match="the script ran again"):
        run_spark(other_run, _planned(step), spec_file)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ through Airflow's retries


def _airflow_run(project: Project, pipeline: str) -> Any:
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    return run_pipeline(project, pipeline)


def _write_spec(project: Project, name: str, steps: str) -> None:
    marks = project.root / ".akko" / "marks" / name
    text = (
        f"pipeline: {name}\nowner: tests\nteam: demo\nschedule: manual\n"
        "defaults: {retries: 1, retry_delay: 1s}\nsteps:\n"
        + steps.format(marks=marks, catalog_uri=project.catalog_uri, warehouse=project.warehouse)
    )
    (project.root / "pipelines" / f"{name}.yaml").write_text(text)


def _tries(project: Project, name: str) -> list[str]:
    return sorted(p.name for p in (project.root / ".akko" / "marks" / name).iterdir())


@pytest.mark.e2e
def test_append_then_raise_with_retries_leaves_nothing(project: Project) -> None:
    """The issue's probe through Airflow: the append is refused (the way to write named), the step fails once
    and for good (a refusal is not retried: it would be refused again), demo.ledger is as it was."""
    _write_spec(
        project,
        "append_then_raise",
        "  - id: append\n    kind: python\n    function: step_code_functions:append_then_raise\n"
        "    params: {{marks: '{marks}'}}\n",
    )
    before = _state(project, "demo.ledger")
    report = _airflow_run(project, "append_then_raise")
    assert report.state == "failed"
    error = " ".join(t.error or "" for t in report.failed)
    assert "table demo.ledger (read-only).append refused" in error and "`output:`" in error, error
    assert _tries(project, "append_then_raise") == ["append.1"]
    assert _state(project, "demo.ledger") == before


@pytest.mark.e2e
def test_careless_code_retried_by_airflow_writes_its_rows_once(project: Project) -> None:
    """Writes the code tries itself (its ctx, its own catalog, a thread) are refused and swallowed; its first try
    fails, Airflow retries it, the second returns rows: demo.ledger unchanged, the output written once."""
    _write_spec(
        project,
        "careless_retried",
        "  - id: careless\n    kind: python\n    function: step_code_functions:careless_then_retried\n"
        "    params: {{marks: '{marks}', catalog_uri: '{catalog_uri}', warehouse: '{warehouse}'}}\n"
        "    output: {{table: demo.retried, mode: append}}\n",
    )
    before = _state(project, "demo.ledger")
    report = _airflow_run(project, "careless_retried")
    assert report.state == "success", report.failed
    assert _tries(project, "careless_retried") == ["careless.1", "careless.2"]
    assert _state(project, "demo.ledger") == before
    retried = open_catalog(project).load_table("demo.retried")
    assert sorted(retried.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    assert len(retried.snapshots()) == 1
    assert retried.current_snapshot().summary["akko.try-number"] == "2"
