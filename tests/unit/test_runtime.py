"""Step runtime without Airflow: object-store paths, python step arguments, SQL and python steps on a real
embedded lakehouse."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.transforms import run_python, run_sql
from akko_orchestrator.spec.models import Output, PythonStep, SqlStep


@pytest.fixture
def ctx(project_dir: Path) -> StepContext:
    (project_dir / "pipelines" / "helpers.py").write_text(
        "import pyarrow as pa\n"
        "def double(sales, factor, ctx):\n"
        "    return sales.append_column('doubled', pa.compute.multiply(sales['qty'], factor))\n"
        "def needs_unknown(mystery):\n    return None\n"
        "def report(inputs):\n    return {'tables': sorted(inputs)}\n"
    )
    context = StepContext(load_project(project_dir), pipeline_id="p", step_id="s", run_id="run-1")
    write_table(context.catalog, Output(table="demo.sales"), pa.table({"id": [1, 2], "qty": [3, 4]}))
    return context


def planned(step, reads: list[str]) -> PlannedStep:
    output = getattr(step, "output", None)
    return PlannedStep(step=step, reads=tuple(reads), writes=output.table if output else None, upstream=())


def test_object_store_resolves_keys_project_paths_and_uris(ctx: StepContext, project_dir: Path) -> None:
    store = ctx.object_store
    assert store.resolve("raw/a.csv") == f"{project_dir / '.akko' / 'object-store'}/raw/a.csv"
    assert store.resolve("./data/a.csv") == str(project_dir / "data" / "a.csv")
    assert store.resolve("file:///x/y.csv") == "/x/y.csv"
    assert store.resolve("s3://bucket/k") == "s3://bucket/k"
    store.write_bytes("raw/b/2.csv", b"x\n1\n")
    store.write_bytes("raw/b/1.csv", b"x\n2\n")
    assert [Path(p).name for p in store.glob("raw/b/*.csv")] == ["1.csv", "2.csv"]


def test_python_step_gets_tables_params_and_ctx_by_name(ctx: StepContext) -> None:
    step = PythonStep(
        id="s",
        kind="python",
        function="helpers:double",
        inputs=["demo.sales"],
        params={"factor": 2},
        output=Output(table="demo.doubled", mode="overwrite"),
    )
    result = run_python(ctx, planned(step, ["demo.sales"]))
    assert result.rows == 2
    table = ctx.catalog.load_table("demo.doubled")
    assert table.scan().to_arrow().sort_by("id").column("doubled").to_pylist() == [6, 8]
    assert table.current_snapshot().summary["akko.run-id"] == "run-1"
    summary = run_python(
        ctx, planned(PythonStep(id="r", kind="python", function="helpers:report", inputs=["demo.sales"]), [])
    )
    assert summary == {"result": {"tables": ["demo.sales"]}}


def test_python_step_errors_say_what_to_fix(ctx: StepContext) -> None:
    with pytest.raises(AkkoError, match="needs argument 'mystery'"):
        run_python(ctx, planned(PythonStep(id="s", kind="python", function="helpers:needs_unknown"), []))
    with pytest.raises(AkkoError, match="cannot import module 'nope'"):
        run_python(ctx, planned(PythonStep(id="s", kind="python", function="nope:f"), []))
    with pytest.raises(AkkoError, match="has no function 'missing'"):
        run_python(ctx, planned(PythonStep(id="s", kind="python", function="helpers:missing"), []))


def test_sql_step_writes_table_and_verification_queries_return_previews(ctx: StepContext) -> None:
    step = SqlStep(id="t", kind="sql", sql="x", output=Output(table="demo.big", mode="overwrite"))
    result = run_sql(
        ctx, planned(step, ["demo.sales"]), {"sql": "SELECT id, qty * 10 AS qty10 FROM demo.sales"}
    )
    assert result.rows == 2 and ctx.catalog.table_exists("demo.big")
    verify = SqlStep(id="v", kind="sql", queries={"n": "SELECT count(*) AS n FROM demo.big"})
    out = run_sql(ctx, planned(verify, ["demo.big"]), {"n": "SELECT count(*) AS n FROM demo.big"})
    assert out == {"queries": {"n": {"columns": ["n"], "rows": [[2]], "total_rows": 1}}}
