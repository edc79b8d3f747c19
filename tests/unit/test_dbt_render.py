"""A dbt step's Airflow rendering, from the graph `akko sync` stored (tests/fixtures/dbt/shop), proves:

- the step is a task group named after it: a `compile` task and one task per model and seed (none for the
  ephemeral model), whose dependencies are dbt's plus the waits its tests add; model tasks come after `compile`,
  seeds do not wait for it;
- each model and seed task's outlet is its table's asset (`iceberg://akko/<ns>/<table>`), its inlets the sources
  and refs it reads; each writes under its own identity `<step>.<model>`;
- the step waits for the steps writing its sources (here the python step writing demo.orders);
- parsing runs no dbt: the shim loads in a process where importing `dbt` is impossible, and imports no engine
  (Airflow itself loads astronomer-cosmos' cluster policy plugin; AKKO's use of cosmos, its profile mappings, is
  run time only);
- the DAG's serialization is the same every time (deterministic).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from akko_orchestrator.compiler.dag_builder import build_dag
from akko_orchestrator.compiler.entry import compile_plan
from akko_orchestrator.compiler.shims import render_shim
from akko_orchestrator.dbt.sync import refresh_graphs
from tests.fixtures.dbt_project import make_shop_project, spec_file

if TYPE_CHECKING:
    from airflow.sdk import DAG

MODELS = ["stg_orders", "big_orders", "customer_totals", "orders_latest", "orders_appended"]
TASKS = ["shop.compile", "shop.countries", *(f"shop.{m}" for m in MODELS)]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_shop_project(tmp_path_factory.mktemp("dbt_render") / "project")
    refresh_graphs([spec_file(root)])  # what `akko sync` does before Airflow parses
    return root


def build(root: Path) -> DAG:
    spec = spec_file(root)
    return build_dag(compile_plan(spec, root), str(spec), "akko")


@pytest.fixture(scope="module")
def dag(shop: Path) -> DAG:
    return build(shop)


def uris(assets) -> list[str]:
    return sorted(a.uri for a in assets)


def test_a_task_group_named_after_the_step_with_compile_and_a_task_per_model_and_seed(dag: DAG) -> None:
    assert sorted(dag.task_dict) == sorted(["load_orders", *TASKS])
    group = dag.task_group_dict["shop"]
    assert sorted(group.children) == sorted(TASKS)
    assert group.tooltip == "The shop project's models and seed."
    kinds = {task_id: type(dag.task_dict[task_id]).__name__ for task_id in TASKS}
    assert kinds == {t: "DbtCompileOperator" if t == "shop.compile" else "DbtNodeOperator" for t in TASKS}
    assert "shop.int_paid_orders" not in dag.task_dict  # ephemeral: inlined into customer_totals


def test_dependencies_are_dbts_and_models_wait_for_compile(dag: DAG) -> None:
    upstream = {task_id: dag.task_dict[task_id].upstream_task_ids for task_id in TASKS}
    assert upstream == {
        "shop.compile": {"load_orders"},
        "shop.countries": {"shop.compile"},  # a seed is its CSV, but its dbt tests are compiled
        "shop.stg_orders": {"shop.compile", "shop.countries"},  # its relationships test reads the seed
        "shop.big_orders": {"shop.compile", "shop.stg_orders", "shop.countries"},
        "shop.customer_totals": {"shop.compile", "shop.stg_orders"},  # through the ephemeral model
        "shop.orders_latest": {"shop.compile", "shop.stg_orders"},
        "shop.orders_appended": {
            "shop.compile",
            "shop.stg_orders",
            "shop.orders_latest",
        },  # its test's parent
    }
    assert dag.task_dict["load_orders"].downstream_task_ids == {"shop.compile"}


def test_outlets_are_the_tables_and_inlets_what_each_reads(dag: DAG) -> None:
    outlets = {task_id: uris(dag.task_dict[task_id].outlets) for task_id in TASKS}
    assert outlets == {
        "shop.compile": [],
        "shop.countries": ["iceberg://akko/shop/countries"],
        "shop.stg_orders": ["iceberg://akko/shop/stg_orders"],
        "shop.big_orders": ["iceberg://akko/shop/big_orders"],
        "shop.customer_totals": ["iceberg://akko/shop_reporting/customer_summary"],
        "shop.orders_latest": ["iceberg://akko/shop/orders_latest"],
        "shop.orders_appended": ["iceberg://akko/shop/orders_appended"],
    }
    inlets = {task_id: uris(dag.task_dict[task_id].inlets) for task_id in TASKS}
    assert inlets == {
        "shop.compile": ["iceberg://akko/demo/orders"],  # the step's reads
        "shop.countries": [],
        "shop.stg_orders": ["iceberg://akko/demo/orders", "iceberg://akko/shop/countries"],
        "shop.big_orders": ["iceberg://akko/shop/countries", "iceberg://akko/shop/stg_orders"],
        "shop.customer_totals": ["iceberg://akko/shop/stg_orders"],
        "shop.orders_latest": ["iceberg://akko/shop/stg_orders"],
        "shop.orders_appended": ["iceberg://akko/shop/orders_latest", "iceberg://akko/shop/stg_orders"],
    }
    assert uris(dag.task_dict["load_orders"].outlets) == ["iceberg://akko/demo/orders"]
    identities = {task_id: dag.task_dict[task_id].akko_step for task_id in TASKS}
    # `<step>.<model>` in every snapshot a model task commits; compile writes no table (its staging is the step's)
    assert identities == {t: "shop" if t == "shop.compile" else t for t in TASKS}


def test_the_step_waits_for_the_writers_of_its_sources(shop: Path) -> None:
    plan = compile_plan(spec_file(shop), shop)
    planned = plan.step("shop")
    assert planned.reads == ("demo.orders",) and planned.upstream == ("load_orders",)
    assert [s.id for s in plan.steps] == ["load_orders", "shop"]
    assert set(planned.tables) == {
        "shop.countries",
        "shop.stg_orders",
        "shop.big_orders",
        "shop_reporting.customer_summary",
        "shop.orders_latest",
        "shop.orders_appended",
    }


PARSE_WITHOUT_DBT = """
import json, runpy, sys
sys.modules["dbt"] = None  # `import dbt` (or any dbt.*) now raises ImportError
dag = runpy.run_path(sys.argv[1])["dag"]
loaded = sorted(m for m, module in sys.modules.items() if module is not None)
heavy = [m for m in loaded if m.split(".")[0] in ("dbt", "duckdb", "pyiceberg", "agate") or m == "cosmos.profiles"]
print(json.dumps({"tasks": sorted(dag.task_dict), "heavy": heavy,
                  "manifest": "akko_orchestrator.dbt.manifest" in loaded}))
"""


def test_parsing_runs_no_dbt(shop: Path, tmp_path: Path) -> None:
    """The shim Airflow's dag-processor parses builds the DAG with dbt impossible to import: no dbt run, no
    manifest, only the stored graph."""
    dags = tmp_path / "dags"
    dags.mkdir()
    spec = spec_file(shop)
    shim = dags / "shop_dbt.py"
    shim.write_text(render_shim(spec, dags, "pipelines/shop_dbt.yaml"))
    done = subprocess.run(
        [sys.executable, "-c", PARSE_WITHOUT_DBT, str(shim)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["tasks"] == sorted(["load_orders", *TASKS])
    assert answer["heavy"] == [] and answer["manifest"] is False


def test_serialization_is_deterministic(shop: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    first = json.dumps(DagSerialization.to_dict(build(shop)), sort_keys=True, default=str)
    second = json.dumps(DagSerialization.to_dict(build(shop)), sort_keys=True, default=str)
    assert first == second
    assert "0x" not in first  # no object reprs with memory addresses
    assert "shop.orders_appended" in first
