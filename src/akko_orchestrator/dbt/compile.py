"""The `compile` task of a dbt step: one dbt invocation per run compiles every selected model and its tests.

dbt runs in a child process with the environment of the step's team (dbt/invoke.py, dbt/environment.py) against
the active profile: dbt-duckdb on a scratch database holding the lakehouse as views, locked down to the folders of
the namespaces it reads and every statement gated (`dbt/duckdb_plugin.py`) on `local`, dbt-trino on the cluster's
Trino. Introspection is real, so `is_incremental()` is true exactly when a model's table exists (and the step
does not `full_refresh`). The compiled SQL of models and tests goes to the run's staging area in the object store
(never XCom: it can be large), where each model's task reads it; a retried model task finds it there. dbt's
partial-parse state is kept per step under the state folder, so each run pays dbt's start-up and little parsing.

One invocation for the whole selection, not one per model: dbt's start-up and parse cost seconds each (one dbt
call per model is what makes dbt-in-Airflow slow at scale).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from akko_orchestrator.dbt.graph import DbtGraph
from akko_orchestrator.dbt.project import load_project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.spec.models import DbtStep

COMPILED = "dbt-compiled.json"
COMPILE_TIMEOUT = 3600  # seconds for one `dbt compile` of a step (the task's own timeout may be shorter)


def compiled_key(ctx: StepContext, step_id: str) -> str:
    """Where a run's compiled SQL of a dbt step is (the step's staging area; model tasks have other step ids)."""
    return ctx.staging_key(COMPILED).replace(f"/{ctx.step_id}/", f"/{step_id}/")


def compile_step(ctx: StepContext, step: DbtStep, graph: DbtGraph, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    models = [n for n in graph.nodes if n.resource_type == "model"]
    existing = _existing(ctx, [*graph.reads, *graph.tables])
    compiled: dict[str, Any] = {"nodes": {}, "tests": {}}
    if models or any(n.tests for n in graph.nodes):
        scratch = ctx.project.state_dir / "dbt" / ctx.pipeline_id / step.id
        results = _invoke(ctx, step, graph, folder, scratch, existing)
        own = {n.unique_id: n for n in models}
        for unique_id, node in results.items():
            if unique_id in own:
                incremental = _is_incremental(own[unique_id], existing, step)
                compiled["nodes"][unique_id] = {"sql": node["sql"], "incremental": incremental}
            elif node["resource_type"] == "test":
                compiled["tests"][unique_id] = node["sql"]
    ctx.object_store.write_bytes(compiled_key(ctx, step.id), json.dumps(compiled).encode())
    seconds = round(time.perf_counter() - started, 2)
    log.info(
        "%s: dbt compiled %d model(s) and %d test(s) in %.2fs",
        step.id,
        len(models),
        len(compiled["tests"]),
        seconds,
    )
    return {"models": len(compiled["nodes"]), "tests": len(compiled["tests"]), "seconds": seconds}


def read_compiled(ctx: StepContext, step_id: str) -> dict[str, Any]:
    try:
        return json.loads(ctx.object_store.read_bytes(compiled_key(ctx, step_id)))
    except FileNotFoundError:
        raise AkkoError(
            f"{step_id}: this run's dbt compile left no compiled SQL: clear the `compile` task"
        ) from None


def _is_incremental(node: Any, existing: dict[str, str], step: DbtStep) -> bool:
    return node.materialized == "incremental" and node.table in existing and not step.full_refresh


def _existing(ctx: StepContext, tables: list[str]) -> dict[str, str]:
    """The tables among `tables` that exist now, with their current metadata file."""
    found = {}
    for name in sorted(set(tables)):
        if ctx.catalog.table_exists(name):
            found[name] = ctx.catalog.load_table(name).metadata_location
    return found


def _invoke(
    ctx: StepContext, step: DbtStep, graph: DbtGraph, folder: Path, scratch: Path, existing: dict[str, str]
) -> dict[str, dict[str, Any]]:
    from akko_orchestrator.dbt.environment import dbt_environment
    from akko_orchestrator.dbt.invoke import run_child

    project = load_project(folder)
    profiles, secrets = _profiles(ctx, step, graph, scratch, existing)
    environment = dbt_environment(ctx.project.config.teams, ctx.team, secrets)
    # Seeds too: compiling a seed is nothing, but it selects the seed's tests (which gate its table).
    names = [n.unique_id.split(".", 2)[-1] for n in graph.nodes]
    args = [
        "compile",
        "--project-dir",
        str(folder),
        "--profiles-dir",
        str(profiles),
        "--target-path",
        str(scratch / "target"),
        "--log-path",
        str(scratch / "logs"),
        "--vars",
        json.dumps(step.vars),
        "--select",
        *names,
        "--quiet",
        "--no-use-colors",
        *(["--full-refresh"] if step.full_refresh else []),
    ]
    answer = run_child("compile", {"args": args}, environment, COMPILE_TIMEOUT)
    if "failure" in answer:
        failure = environment.explain(answer["failure"])
        raise AkkoError(f"{step.id}: dbt compile of project {project.name} failed: {failure}")
    return answer["nodes"]


def _profiles(
    ctx: StepContext, step: DbtStep, graph: DbtGraph, scratch: Path, existing: dict[str, str]
) -> tuple[Path, dict[str, str]]:
    from akko_orchestrator.dbt import profiles

    schema = graph.target_schema
    folder = scratch / "profiles"
    if ctx.project.profile.engine != "embedded":
        return profiles.cluster_profile(ctx.project, graph.profile, folder, schema)
    database = folder / f"{profiles.DATABASE}.duckdb"
    for stale in (database, database.with_name(database.name + ".wal")):
        stale.unlink(missing_ok=True)  # the views of the last run may name dropped tables
    own = set(graph.tables)
    views = {t: loc for t, loc in existing.items() if t not in own}
    lakehouse = {
        "views": views,
        "tables": {t: loc for t, loc in existing.items() if t in own},
        "allowed": readable_folders(ctx.project.warehouse, views),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lakehouse.json").write_text(json.dumps(lakehouse, sort_keys=True), encoding="utf-8")
    config = {"lakehouse": str(folder / "lakehouse.json")}
    return profiles.local_profile(graph.profile, folder, schema, config), {}


def readable_folders(warehouse: str, views: dict[str, str]) -> list[str]:
    """The folders dbt's DuckDB may read: `<warehouse>/<namespace>/` of the tables it sees as views (each one
    the team may read: `_existing` loaded them through the step's guarded catalog). The models' own tables are
    copied empty before the lock-down and need none. Never the warehouse as a whole, nor the state folder."""
    from akko_orchestrator.engines.duckdb.sandbox import warehouse_folder

    root = warehouse_folder(warehouse)
    if root is None:
        return []
    namespaces = {name.split(".", 1)[0] for name in views}
    return sorted(str(Path(root) / ns) for ns in namespaces if ns not in ("", ".", "..") and "/" not in ns)
