"""dbt step run overhead: AKKO's dbt step on `local` against `dbt build` run directly (dbt-duckdb), same project
and data.

The project is the banking fraud demo's (pipelines/dbt/banking: a seed, 7 models -- one incremental -- and 49
tests) and the data the demo's (pipelines/banking_demo.py: 2,000 customers, 3,268 accounts, 100,000
transactions). In a throwaway AKKO project (its own state folder, Airflow home, catalog):

- setup, once: `akko run bench_banking_sources` (the demo's local steps: generate the data, land it as the Iceberg
  tables banking.customers, banking.customer_accounts, banking.transactions), then the same three tables copied
  from Iceberg into a DuckDB file for dbt;
- AKKO: `akko run bench_banking_marts`, a spec whose only step is the demo's `marts` dbt step (the sources are
  already there), in a fresh process through the `akko` console script, as a user runs it. Measured: (a) the
  whole `akko run` (process start to exit: CLI, project, shim sync, DAG parse, Airflow DB, dag.test) and (b) the
  dbt step itself, from its first task's start to its last task's end (and the sum of its task durations), read
  from the run's task instances in Airflow's metadata DB;
- dbt: `dbt build` in a fresh process (`.venv/bin/dbt build --project-dir <the same project> --profiles-dir
  <a DuckDB profile on that file>`, target and log paths in the throwaway folder), building the same models and
  seed and running the same tests (plus the seed's 5 tests, which AKKO does not run: see README).

Each side runs once first (untimed: creates the tables and dbt's partial-parse state; AKKO also builds the step's
graph), then they alternate (the order alternates too); medians. Goal: the dbt step at most 1.3x `dbt build`.
Both runs are sequential (AKKO's dag.test runs one task at a time; the dbt profile has `threads: 1`, see
--dbt-threads). One more, instrumented AKKO run (not in the medians) times where the step's time goes: Airflow's
share of each task, opening the catalog and engine, dbt (start-up, parse, compile), each model's query, write,
checks and commit. At the end both must hold the same rows in every table the step builds.

Run: `uv run python benchmarks/bench_dbt_run.py [--repeats 3] [--dbt-threads 1] [--no-breakdown] [--keep]`.
Figures go to benchmarks/results/dbt-run-<UTC time>.json (`--json FILE` elsewhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, isolated_env, median, spread, table  # noqa: E402

GOAL_RATIO = 1.3  # the dbt step's time / dbt build's, at most
RESULTS = REPO / "benchmarks" / "results"
BIN = Path(sys.executable).parent
DEMO_SPEC = REPO / "pipelines" / "banking_fraud_demo.yaml"
DBT_PROJECT = REPO / "pipelines" / "dbt" / "banking"
SOURCES = "bench_banking_sources"
MARTS = "bench_banking_marts"
SOURCE_TABLES = ("customers", "customer_accounts", "transactions")
NAMESPACE = "banking"

AKKO_YAML = """project: bench-dbt-run
lakehouse: akko
pipelines: pipelines
python_path: [pipelines]
profile: local
profiles:
  local:
    engine: embedded
"""

PROFILES_YML = """akko:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: {path}
      schema: {schema}
      threads: {threads}
"""


# --------------------------------------------------------------------------------------------------------------
# The throwaway project
# --------------------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, tmp: Path, dbt_threads: int):
        self.tmp = tmp
        self.root = tmp / "akko"
        self.state = self.root / ".akko"
        self.project = self.root / "pipelines" / "dbt" / "banking"
        self.dbt_dir = tmp / "dbt"
        self.warehouse = self.dbt_dir / "warehouse.duckdb"
        self.dbt_threads = dbt_threads
        self.env = isolated_env(
            self.state / "airflow",
            AKKO_STATE_DIR=str(self.state),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        )
        self._write_project()

    def _write_project(self) -> None:
        import yaml

        pipelines = self.root / "pipelines"
        pipelines.mkdir(parents=True)
        (self.root / "akko.yaml").write_text(AKKO_YAML)
        shutil.copy(REPO / "pipelines" / "banking_demo.py", pipelines / "banking_demo.py")
        shutil.copytree(
            DBT_PROJECT, self.project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
        )
        demo = yaml.safe_load(DEMO_SPEC.read_text())
        base = {k: v for k, v in demo.items() if k not in ("steps", "tags", "pipeline", "description")}
        local = [
            {k: v for k, v in s.items() if k != "profiles"}
            for s in demo["steps"]
            if "local" in s.get("profiles", ["local"]) and s["kind"] != "dbt"
        ]
        dbt_steps = [s for s in demo["steps"] if s["kind"] == "dbt"]
        if len(dbt_steps) != 1 or not local:
            raise RuntimeError(f"{DEMO_SPEC} no longer has one dbt step and local source steps")
        specs = {
            SOURCES: {"description": "The banking demo's sources (its local steps).", "steps": local},
            MARTS: {"description": "The banking demo's dbt step alone.", "steps": dbt_steps},
        }
        for name, spec in specs.items():
            document = {"pipeline": name, "description": spec["description"], **base, "schedule": "manual"}
            document["steps"] = spec["steps"]
            (pipelines / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=110))
        self.dbt_dir.mkdir()
        (self.dbt_dir / "profiles").mkdir()
        (self.dbt_dir / "profiles" / "profiles.yml").write_text(
            PROFILES_YML.format(path=self.warehouse, schema=NAMESPACE, threads=self.dbt_threads)
        )
        self.dbt_step = dbt_steps[0]["id"]
        options = dbt_steps[0].get("models") or {}
        self.spec_checks = sum(len((o or {}).get("checks") or []) for o in options.values())

    # ----------------------------------------------------------------------------------------------------------

    def akko(self, pipeline: str) -> tuple[float, str]:
        """`akko run PIPELINE` in a fresh process (the console script); wall seconds and its output."""
        started = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "akko"), "run", pipeline], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"akko run {pipeline} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
            )
        return seconds, done.stdout

    def dbt_build(self) -> tuple[float, dict[str, Any]]:
        """`dbt build` in a fresh process; wall seconds and its run_results.json."""
        target = self.dbt_dir / "target"
        command = [
            str(BIN / "dbt"),
            "build",
            "--project-dir",
            str(self.project),
            "--profiles-dir",
            str(self.dbt_dir / "profiles"),
            "--target-path",
            str(target),
            "--log-path",
            str(self.dbt_dir / "logs"),
        ]
        (target / "run_results.json").unlink(missing_ok=True)
        started = time.perf_counter()
        done = subprocess.run(command, env=self.env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"dbt build failed ({done.returncode}):\n{done.stdout[-4000:]}")
        return seconds, json.loads((target / "run_results.json").read_text())

    def copy_sources(self) -> dict[str, int]:
        """The three source tables, from Iceberg into the DuckDB file dbt builds on."""
        import duckdb

        catalog = self.catalog()
        counts = {}
        with duckdb.connect(str(self.warehouse)) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {NAMESPACE}")
            for name in SOURCE_TABLES:
                data = catalog.load_table(f"{NAMESPACE}.{name}").scan().to_arrow()
                con.register("source_rows", data)
                con.execute(f"CREATE OR REPLACE TABLE {NAMESPACE}.{name} AS SELECT * FROM source_rows")
                con.unregister("source_rows")
                counts[name] = data.num_rows
        return counts

    def catalog(self) -> Any:
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog(
            "akko",
            uri=f"sqlite:///{self.state / 'catalog.db'}",
            warehouse=(self.state / "warehouse").as_uri(),
        )

    def graph(self) -> dict[str, Any]:
        graphs = sorted((self.project / "target" / "akko").glob("graph-*.json"))
        if len(graphs) != 1:
            raise RuntimeError(f"{len(graphs)} stored graphs in {self.project}/target/akko")
        return json.loads(graphs[0].read_text())

    def last_run(self, pipeline: str) -> dict[str, Any]:
        """The latest run of `pipeline`: its task instances (start, end, duration) and task results."""
        with sqlite3.connect(self.state / "airflow" / "airflow.db") as db:
            run_id, run_start, run_end, state = db.execute(
                "SELECT run_id, start_date, end_date, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                (pipeline,),
            ).fetchone()
            tasks = db.execute(
                "SELECT task_id, start_date, end_date, duration, state FROM task_instance "
                "WHERE dag_id = ? AND run_id = ? ORDER BY start_date",
                (pipeline, run_id),
            ).fetchall()
            xcoms = dict(
                db.execute(
                    "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                    (pipeline, run_id),
                ).fetchall()
            )
        if state != "success":
            raise RuntimeError(f"{pipeline} run {run_id}: {state}")
        found = []
        for task_id, start, end, duration, task_state in tasks:
            value = xcoms.get(task_id)
            found.append(
                {
                    "task_id": task_id,
                    "start": _ts(start),
                    "end": _ts(end),
                    "duration": duration,
                    "state": task_state,
                    "result": json.loads(value) if isinstance(value, (str, bytes)) else value,
                }
            )
        return {"run_id": run_id, "start": _ts(run_start), "end": _ts(run_end), "tasks": found}


def _ts(text: str | None) -> float | None:
    if text is None:
        return None
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def step_figures(run: dict[str, Any], step: str) -> dict[str, Any]:
    """The dbt step's tasks in one run: wall from its first task's start to its last task's end, sum of their
    durations, each task's duration, and the dag run's wall."""
    tasks = [t for t in run["tasks"] if t["task_id"].startswith(f"{step}.")]
    if not tasks or any(t["state"] != "success" for t in tasks):
        raise RuntimeError(
            f"the {step} step's tasks did not all succeed: {[(t['task_id'], t['state']) for t in tasks]}"
        )
    compile_task = next(t for t in tasks if t["task_id"] == f"{step}.compile")
    return {
        "step_wall_s": max(t["end"] for t in tasks) - min(t["start"] for t in tasks),
        "step_tasks_s": sum(t["duration"] for t in tasks),
        "from_compile_s": max(t["end"] for t in tasks) - compile_task["start"],
        "dag_run_s": run["end"] - run["start"],
        "tasks": {t["task_id"].split(".", 1)[1]: t["duration"] for t in tasks},
        "checks": {
            t["task_id"].split(".", 1)[1]: _checks(t["result"])
            for t in tasks
            if isinstance(t["result"], dict)
        },
    }


def _checks(result: dict[str, Any]) -> int | None:
    checks = result.get("checks")
    if not isinstance(checks, dict):
        return None
    return int(checks.get("passed", 0)) + len(checks.get("warned") or []) + len(checks.get("failed") or [])


def dbt_figures(results: dict[str, Any], wall: float, graph: dict[str, Any]) -> dict[str, Any]:
    """dbt build's own accounting: its elapsed time (after start-up and parse), each model's and seed's time and
    the time of the tests AKKO attaches to each (same unique ids as the step's graph)."""
    test_owner = {t["unique_id"]: n["name"] for n in graph["nodes"] for t in n["tests"]}
    nodes: dict[str, float] = {}
    tests: dict[str, float] = {}
    counts = {"model": 0, "seed": 0, "test": 0}
    for r in results["results"]:
        kind = r["unique_id"].split(".", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
        if r["status"] not in ("success", "pass", "warn"):
            raise RuntimeError(f"dbt build: {r['unique_id']} {r['status']}")
        if kind in ("model", "seed"):
            nodes[r["unique_id"].split(".")[-1]] = r["execution_time"]
        elif kind == "test":
            owner = test_owner.get(r["unique_id"], "?")
            tests[owner] = tests.get(owner, 0.0) + r["execution_time"]
    elapsed = results["elapsed_time"]
    return {
        "wall_s": wall,
        "elapsed_s": elapsed,
        "startup_parse_s": wall - elapsed,
        "nodes": nodes,
        "tests_by_node": tests,
        "counts": counts,
    }


# --------------------------------------------------------------------------------------------------------------
# The instrumented AKKO run: where the step's time goes
# --------------------------------------------------------------------------------------------------------------

# (module, attribute, label): functions timed in the instrumented run (exclusive time: nested timed calls are
# subtracted from their caller's).
PROBES = (
    ("akko_orchestrator.operators.steps", "AkkoStepOperator.execute", "other"),
    ("akko_orchestrator.lakehouse.catalog", "open_catalog", "open"),
    ("akko_orchestrator.engines.registry", "create_engine", "open"),
    ("akko_orchestrator.dbt.compile", "_invoke", "dbt"),
    ("akko_orchestrator.dbt.compile", "_existing", "commit"),
    ("akko_orchestrator.dbt.compile", "read_compiled", "commit"),
    ("akko_orchestrator.dbt.models", "_model", "data"),
    ("akko_orchestrator.dbt.models", "_seed", "data"),
    ("akko_orchestrator.dbt.models", "already_published", "commit"),
    ("akko_orchestrator.runtime.publish", "already_published", "commit"),
    ("akko_orchestrator.lakehouse.writer", "write_table", "write"),
    ("akko_orchestrator.quality.runner", "run_checks", "checks"),
    ("akko_orchestrator.quality.history", "record", "commit"),
    ("akko_orchestrator.runtime.publish", "verify_branch", "commit"),
    ("akko_orchestrator.runtime.publish", "publish", "commit"),
    ("akko_orchestrator.cli.app", "project_for", "run:load the project (akko.yaml)"),
    ("akko_orchestrator.local_airflow.inprocess", "pipeline_shim", "run:sync shims + dbt graphs"),
    ("akko_orchestrator.local_airflow.inprocess", "_load_dag", "run:DagBag (Airflow import, shim parse)"),
    ("akko_orchestrator.local_airflow.environment", "ensure_database", "run:Airflow metadata DB check"),
    ("akko_orchestrator.local_airflow.inprocess", "_report", "run:read the run's results"),
    ("akko_orchestrator.cli.render_runs", "run_summary", "run:summary table"),
    ("akko_orchestrator.local_airflow.inprocess", "run_pipeline", "run:run_pipeline"),
)
LABELS = ("airflow", "open", "dbt", "data", "write", "checks", "commit", "other")


class _Timer:
    """Wraps the PROBES functions: exclusive seconds per (task, label) (nested timed calls are subtracted from
    their caller's); the run's parts ("run:" labels) inclusive, outside any task."""

    def __init__(self) -> None:
        self.stack: list[list[Any]] = []  # [label, started, children seconds]
        self.spent: dict[tuple[str, str], float] = {}
        self.task = "-"
        self.targets: dict[str, list[tuple[str, str]]] = {}
        for module_name, attribute, label in PROBES:
            self.targets.setdefault(module_name, []).append((attribute, label))

    def patch(self, module: Any) -> None:
        for attribute, label in self.targets[module.__name__]:
            owner, _, name = attribute.rpartition(".")
            target = getattr(module, owner) if owner else module
            setattr(target, name, self.wrap(label, getattr(target, name), is_execute=name == "execute"))

    def wrap(self, label: str, fn: Any, is_execute: bool) -> Any:
        import functools

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if is_execute:
                self.task = args[0].task_id.split(".", 1)[-1]
            frame = [label, time.perf_counter(), 0.0]
            self.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                self._record(label, time.perf_counter() - frame[1], frame[2])
                if is_execute:
                    self.task = "-"

        return timed

    def _record(self, label: str, total: float, children: float) -> None:
        if label.startswith("run:"):
            self.spent[("-", label)] = self.spent.get(("-", label), 0.0) + total
            return
        key = (self.task, label)
        self.spent[key] = self.spent.get(key, 0.0) + total - children
        if self.stack and not self.stack[-1][0].startswith("run:"):
            self.stack[-1][2] += total


def breakdown_worker(out: str, spawned_at: float, argv: list[str]) -> None:
    """In a fresh process: `akko <argv>` with PROBES timed; writes the per-task and per-phase seconds to `out`."""
    entered = time.time()
    timer = _Timer()
    # Patch each module right after its first import, where the run imports it (import costs stay where they
    # are; importing everything up front would also import Airflow before `akko run` configures it).
    sys.meta_path.insert(0, _PatchOnImport(timer.targets, timer.patch))
    cli_started = time.perf_counter()
    from akko_orchestrator.cli.main import main as akko_main

    cli_import = time.perf_counter() - cli_started
    sys.argv = ["akko", *argv]
    code = 0
    try:
        akko_main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finished = time.time()
    result = {
        "python_startup_s": entered - spawned_at,
        "cli_import_s": cli_import,
        "process_s": finished - spawned_at,
        "exit": code,
        "spent": [[task, label, seconds] for (task, label), seconds in timer.spent.items()],
    }
    Path(out).write_text(json.dumps(result))


class _PatchOnImport:
    """A meta path finder calling `patch(module)` once a module of `targets` has been executed."""

    def __init__(self, targets: dict[str, Any], patch: Any):
        self.targets, self.patch = targets, patch

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.targets:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader, patch = spec.loader, self.patch
        exec_module = loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            patch(module)

        loader.exec_module = exec_and_patch
        return spec


def run_breakdown(bench: Bench) -> dict[str, Any]:
    out = bench.tmp / "breakdown.json"
    spawned_at = time.time()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--breakdown-worker",
        str(out),
        repr(spawned_at),
        "run",
        MARTS,
    ]
    done = subprocess.run(command, cwd=bench.root, env=bench.env, capture_output=True, text=True)
    wall = time.time() - spawned_at
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(
            f"the instrumented akko run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    measured = json.loads(out.read_text())
    if measured["exit"] != 0:
        raise RuntimeError(f"the instrumented akko run exited {measured['exit']}:\n{done.stdout[-3000:]}")
    run = bench.last_run(MARTS)
    step = step_figures(run, bench.dbt_step)
    per_task: dict[str, dict[str, float]] = {}
    outer: dict[str, float] = {}
    for task, label, seconds in measured["spent"]:
        if label.startswith("run:"):
            outer[label[4:]] = outer.get(label[4:], 0.0) + seconds
        else:
            row = per_task.setdefault(task, {})
            row[label] = row.get(label, 0.0) + seconds
    for task, duration in step["tasks"].items():
        row = per_task.setdefault(task, {})
        row["total"] = duration
        row["airflow"] = duration - sum(v for k, v in row.items() if k in LABELS)
    # run_pipeline = environment + sync + DagBag + DB check + dag.test + reading the results
    pipeline = outer.pop("run_pipeline", 0.0)
    inside = ("sync shims + dbt graphs", "DagBag (Airflow import, shim parse)", "Airflow metadata DB check")
    dag_test = pipeline - sum(outer.get(k, 0.0) for k in (*inside, "read the run's results"))
    outer_rows = {
        "python start-up": measured["python_startup_s"],
        "akko CLI import": measured["cli_import_s"],
        **outer,
        "dag.test outside the step's tasks": dag_test - step["step_wall_s"],
        "the dbt step (first task start to last end)": step["step_wall_s"],
    }
    outer_rows["interpreter exit (its final GC)"] = wall - measured["process_s"]
    outer_rows["rest (CLI, progress, printing)"] = wall - sum(outer_rows.values())
    return {"wall_s": wall, "step": step, "tasks": per_task, "run": outer_rows}


# --------------------------------------------------------------------------------------------------------------
# Same results on both sides
# --------------------------------------------------------------------------------------------------------------


def compare_tables(bench: Bench, graph: dict[str, Any]) -> dict[str, Any]:
    """Every table the step builds: same row count in Iceberg (AKKO) and DuckDB (dbt), and the same rows once
    numbers are compared as floats (rounded to 6 digits)."""
    import duckdb

    catalog = bench.catalog()
    found: dict[str, Any] = {}
    with duckdb.connect(str(bench.warehouse), read_only=True) as con:
        for node in graph["nodes"]:
            name = f"{node['schema']}.{node['alias']}"
            akko = catalog.load_table(name).scan().to_arrow()
            dbt = con.execute(f"SELECT * FROM {name}").to_arrow_table()
            same_columns = [c.lower() for c in akko.column_names] == [c.lower() for c in dbt.column_names]
            same_rows = same_columns and _rows(akko) == _rows(dbt)
            found[name] = {"rows": akko.num_rows, "dbt_rows": dbt.num_rows, "same_rows": same_rows}
    found_all = all(v["same_rows"] for v in found.values())
    return {"tables": found, "all_same": found_all}


def _rows(table: Any) -> list[tuple]:
    import decimal

    def norm(value: Any) -> Any:
        if isinstance(value, (float, decimal.Decimal)):
            return round(float(value), 6)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return float(value)
        return value

    return sorted((tuple(norm(v) for v in row.values()) for row in table.to_pylist()), key=repr)


# --------------------------------------------------------------------------------------------------------------
# Measure and report
# --------------------------------------------------------------------------------------------------------------


def measure(
    repeats: int = 3,
    dbt_threads: int = 1,
    breakdown: bool = True,
    keep: bool = False,
    json_path: str | None = None,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="akko-bench-dbt-run-"))
    load_start = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {
        "settings": {"repeats": repeats, "dbt_threads": dbt_threads, "goal_ratio_max": GOAL_RATIO}
    }
    try:
        bench = Bench(tmp, dbt_threads)
        print("setup: the demo's sources into Iceberg, then into DuckDB...", file=sys.stderr, flush=True)
        setup_s, _ = bench.akko(SOURCES)
        result["setup"] = {"akko_run_sources_s": round(setup_s, 2), "source_rows": bench.copy_sources()}
        print("first runs (untimed)...", file=sys.stderr, flush=True)
        akko_first, _ = bench.akko(MARTS)
        dbt_first, _ = bench.dbt_build()
        graph = bench.graph()
        result["first_run_s"] = {"akko_run": round(akko_first, 2), "dbt_build": round(dbt_first, 2)}
        akko_runs: list[dict[str, Any]] = []
        dbt_runs: list[dict[str, Any]] = []
        for rep in range(repeats):
            print(f"round {rep + 1}/{repeats}...", file=sys.stderr, flush=True)
            for side in ("akko", "dbt") if rep % 2 == 0 else ("dbt", "akko"):
                if side == "akko":
                    wall, _ = bench.akko(MARTS)
                    akko_runs.append({"wall_s": wall, **step_figures(bench.last_run(MARTS), bench.dbt_step)})
                else:
                    wall, results = bench.dbt_build()
                    dbt_runs.append(dbt_figures(results, wall, graph))
        if breakdown:
            print("instrumented akko run (breakdown)...", file=sys.stderr, flush=True)
            result["breakdown"] = run_breakdown(bench)
        result["same_results"] = compare_tables(bench, graph)
        result.update(_figures(akko_runs, dbt_runs, graph, bench.spec_checks))
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1_5_15_start": load_start,
        "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
    }
    result["versions"] = _versions()
    result["git"] = _git_state()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(json_path) if json_path else RESULTS / f"dbt-run-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def _figures(
    akko_runs: list[dict[str, Any]], dbt_runs: list[dict[str, Any]], graph: dict[str, Any], spec_checks: int
) -> dict[str, Any]:
    def med(runs: list[dict[str, Any]], key: str) -> float:
        return round(median([r[key] for r in runs]), 2)

    dbt_wall = [r["wall_s"] for r in dbt_runs]
    figures: dict[str, Any] = {
        "akko": {
            "run_wall_s": med(akko_runs, "wall_s"),
            "run_wall_s_range": spread([r["wall_s"] for r in akko_runs]),
            "step_wall_s": med(akko_runs, "step_wall_s"),
            "step_wall_s_range": spread([r["step_wall_s"] for r in akko_runs]),
            "step_tasks_s": med(akko_runs, "step_tasks_s"),
            "from_compile_s": med(akko_runs, "from_compile_s"),
            "dag_run_s": med(akko_runs, "dag_run_s"),
            "tasks": {t: round(median([r["tasks"][t] for r in akko_runs]), 2) for t in akko_runs[0]["tasks"]},
            "checks_per_task": akko_runs[-1]["checks"],
            "samples": [{k: v for k, v in r.items() if k not in ("tasks", "checks")} for r in akko_runs],
        },
        "dbt": {
            "wall_s": med(dbt_runs, "wall_s"),
            "wall_s_range": spread(dbt_wall),
            "elapsed_s": med(dbt_runs, "elapsed_s"),
            "startup_parse_s": med(dbt_runs, "startup_parse_s"),
            "nodes": {n: round(median([r["nodes"][n] for r in dbt_runs]), 3) for n in dbt_runs[0]["nodes"]},
            "tests_by_node": {
                n: round(median([r["tests_by_node"].get(n, 0.0) for r in dbt_runs]), 3)
                for n in dbt_runs[0]["tests_by_node"]
            },
            "counts": dbt_runs[-1]["counts"],
            "samples": [{k: v for k, v in r.items() if k in ("wall_s", "elapsed_s")} for r in dbt_runs],
        },
    }
    a, d = figures["akko"], figures["dbt"]
    ratios = {
        "step_wall_over_dbt_build": round(a["step_wall_s"] / d["wall_s"], 2),
        "step_tasks_over_dbt_build": round(a["step_tasks_s"] / d["wall_s"], 2),
        "akko_run_over_dbt_build": round(a["run_wall_s"] / d["wall_s"], 2),
    }
    pairs = {
        "step_wall_over_dbt_build": round(
            median([x["step_wall_s"] / y["wall_s"] for x, y in zip(akko_runs, dbt_runs, strict=True)]), 2
        ),
        "akko_run_over_dbt_build": round(
            median([x["wall_s"] / y["wall_s"] for x, y in zip(akko_runs, dbt_runs, strict=True)]), 2
        ),
    }
    graph_tests = sum(len(n["tests"]) for n in graph["nodes"])
    seed_tests = sum(len(n["tests"]) for n in graph["nodes"] if n["resource_type"] == "seed")
    akko_checks = sum(v or 0 for v in a["checks_per_task"].values())
    return {
        **figures,
        "ratios": ratios,
        "ratios_pairs_median": pairs,
        "meets_goal": ratios["step_wall_over_dbt_build"] <= GOAL_RATIO,
        "work": {
            "nodes": {n["name"]: n["resource_type"] for n in graph["nodes"]},
            "dbt_tests_in_graph": graph_tests,
            "dbt_tests_run_by_dbt": d["counts"].get("test", 0),
            "checks_run_by_akko": akko_checks,
            "akko_checks_of_the_spec": spec_checks,
            "seed_tests": seed_tests,
        },
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("apache-airflow", "dbt-core", "dbt-duckdb", "duckdb", "pyiceberg")}


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": len(git("status", "--porcelain").splitlines())}


def report(result: dict[str, Any]) -> str:
    a, d, ratios, pairs = result["akko"], result["dbt"], result["ratios"], result["ratios_pairs_median"]
    settings, machine, work = result["settings"], result["machine"], result["work"]
    lines = [
        f"dbt step of the banking demo (1 seed, {len(work['nodes']) - 1} models, {work['dbt_tests_in_graph']} dbt "
        "tests) on `local`,",
        f"against dbt build (dbt-duckdb, threads {settings['dbt_threads']}). Fresh process per run, median of "
        f"{settings['repeats']}",
        f"alternating runs (s); load {machine['loadavg_1_5_15_start']} -> {machine['loadavg_1_5_15_end']}, "
        f"{machine['cpus']} CPUs",
        table(
            ["", "median s", "range", "first run s"],
            [
                [
                    "akko run (whole process)",
                    f"{a['run_wall_s']:.2f}",
                    a["run_wall_s_range"],
                    f"{result['first_run_s']['akko_run']:.2f}",
                ],
                [
                    "  the dbt step (first start-last end)",
                    f"{a['step_wall_s']:.2f}",
                    a["step_wall_s_range"],
                    "",
                ],
                ["  the dbt step (sum of task durations)", f"{a['step_tasks_s']:.2f}", "", ""],
                [
                    "dbt build (whole process)",
                    f"{d['wall_s']:.2f}",
                    d["wall_s_range"],
                    f"{result['first_run_s']['dbt_build']:.2f}",
                ],
                ["  dbt start-up + parse (wall - elapsed)", f"{d['startup_parse_s']:.2f}", "", ""],
            ],
        ),
        "",
        table(
            ["ratio", "medians", "pairs", "goal"],
            [
                [
                    "dbt step / dbt build",
                    ratios["step_wall_over_dbt_build"],
                    pairs["step_wall_over_dbt_build"],
                    f"<= {settings['goal_ratio_max']}",
                ],
                ["dbt step (task sum) / dbt build", ratios["step_tasks_over_dbt_build"], "", ""],
                [
                    "akko run / dbt build",
                    ratios["akko_run_over_dbt_build"],
                    pairs["akko_run_over_dbt_build"],
                    "",
                ],
            ],
        ),
        f"goal (dbt step / dbt build <= {settings['goal_ratio_max']}): "
        + ("meets" if result["meets_goal"] else "MISSES"),
        _work_line(work),
    ]
    same = result["same_results"]
    lines.append(
        "same rows in every table built: "
        + (
            "yes"
            if same["all_same"]
            else "NO: " + ", ".join(t for t, v in same["tables"].items() if not v["same_rows"])
        )
    )
    if "breakdown" in result:
        lines += ["", *breakdown_report(result["breakdown"], d)]
    return "\n".join(lines)


# The breakdown's columns: label(s) of PROBES summed into each (80 columns: the operator's small rest joins
# opening the catalog and engine as the task's set-up).
COLUMNS = {
    "airfl": ("airflow",),
    "setup": ("open", "other"),
    "dbt": ("dbt",),
    "data": ("data",),
    "write": ("write",),
    "check": ("checks",),
    "commt": ("commit",),
}


def _work_line(work: dict[str, Any]) -> str:
    dbt_tests = work["checks_run_by_akko"] - work["akko_checks_of_the_spec"]
    missing = work["dbt_tests_in_graph"] - dbt_tests
    text = (
        f"work: dbt build ran {work['dbt_tests_run_by_dbt']} tests; akko ran {dbt_tests} dbt tests and "
        f"{work['akko_checks_of_the_spec']} AKKO check(s) of the spec as checks"
    )
    if missing:
        text += f"; {missing} dbt test(s) of the step's graph did not run in AKKO"
    return textwrap.fill(text, 79)


def breakdown_report(b: dict[str, Any], d: dict[str, Any]) -> list[str]:
    order = ["compile", *[t for t in b["tasks"] if t not in ("compile", "-")]]

    def cells(row: dict[str, float]) -> list[str]:
        return [f"{sum(row.get(k, 0.0) for k in keys):.2f}" for keys in COLUMNS.values()]

    rows = []
    for task in order:
        row = b["tasks"].get(task, {})
        reference = d["startup_parse_s"] if task == "compile" else d["nodes"].get(task)
        ref = "" if reference is None else f"{reference + d['tests_by_node'].get(task, 0.0):.2f}"
        name = task if len(task) <= 16 else task[:15] + "~"
        rows.append([name, f"{row.get('total', 0):.2f}", *cells(row), ref])
    totals = {k: sum(b["tasks"].get(t, {}).get(k, 0.0) for t in order) for k in ("total", *LABELS)}
    rows.append(["all tasks", f"{totals['total']:.2f}", *cells(totals), f"{d['wall_s']:.2f}"])
    own = totals["total"] - totals["airflow"]
    head = (
        "Where the step's time goes (one instrumented akko run, s); ref: dbt build's time for the same work "
        "(compile: its start-up + parse; a node: its build and its tests; all tasks: its wall; medians)."
    )
    legend = (
        "airfl: Airflow's part of the task (the first task also starts dag.test's in-process Execution API); "
        "setup: open the catalog and SQL engine, load the project, imports; data: the query (seed: its CSV); "
        "commt: lookups, history record, branch verify, publish. Without Airflow's part: "
        f"{own:.2f} s of AKKO's (and dbt's) code = {own / d['wall_s']:.2f}x dbt build."
    )
    lines = [
        textwrap.fill(head, 79),
        table(["task", "total", *COLUMNS, "ref"], rows),
        textwrap.fill(legend, 79),
        "",
        "The whole instrumented akko run (s):",
    ]
    run_rows = [[name, f"{seconds:.2f}"] for name, seconds in b["run"].items()]
    run_rows.append(["total (process wall)", f"{b['wall_s']:.2f}"])
    lines.append(table(["part", "s"], run_rows))
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--breakdown-worker":
        breakdown_worker(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--dbt-threads", type=int, default=1, help="threads of dbt build's profile")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the instrumented akko run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/dbt-run-*.json)"
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    result = measure(args.repeats, args.dbt_threads, not args.no_breakdown, args.keep, args.json)
    print(report(result))
    print(f"figures: {result['json_file']}")


if __name__ == "__main__":
    main()
