"""Run the parse, demo, dev, checks, dbt, lineage and validate benchmarks; print their headline ratios and goals.

Each benchmark's `measure()` runs in its own fresh (spawned) process, one after the other, so Airflow's
process-wide state and environment never leak from one into the next. Ratios are always akko / reference,
measured within the same benchmark run (interleaved where the benchmark allows).

The benchmarks on the cluster profile start `akko stack` (Java, PostgreSQL, Trino, Spark Connect), so they only
run when asked: `--cluster`, AKKO_BENCH_CLUSTER=1, or `--only cluster,checks-trino`. They are bench_cluster.py
(`cluster`) and the Trino part of bench_checks.py (`checks-trino`); each starts and stops its own stack, or with
`--state-dir DIR` both use the one `akko stack up` runs for DIR.

    uv run python benchmarks/run_all.py                 # parse, demo, dev, checks, dbt-parse, dbt-run, lineage, validate (~25 min)
    uv run python benchmarks/run_all.py --only parse,demo --quick
    uv run python benchmarks/run_all.py --cluster       # also cluster and checks-trino on akko stack (~25 min more)
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

BENCHMARKS = ("parse", "demo", "dev", "checks", "dbt-parse", "dbt-run", "lineage", "validate")
OPTIONAL = (
    "cluster",
    "checks-trino",
    "executors",  # starts akko stack --celery (PostgreSQL, Redis, Airflow with two Celery workers)
)  # need `akko stack`: only with --cluster, AKKO_BENCH_CLUSTER=1 or --only
# A benchmark name -> its module bench_<module>.py and the arguments of its measure() (before --quick's).
ENTRIES: dict[str, tuple[str, dict[str, Any]]] = {
    "checks": ("checks", {"only": ("write", "wap", "breakdown")}),  # embedded
    "checks-trino": ("checks", {"only": ("trino",)}),
    "dbt-parse": ("dbt_parse", {}),
    "dbt-run": ("dbt_run", {}),
}
STACK_ARGS = {"cluster": "state_dir", "checks-trino": "state_dir"}  # what --state-dir sets
QUICK = {
    "parse": {"repeats": 3, "processor_repeats": 1},
    "demo": {"repeats": 1},
    "dev": {"runs": 1, "warm": False},
    "checks": {"runs": 5},
    "checks-trino": {"runs": 5},
    "cluster": {"demo_runs": 1, "step_runs": 5},
    "dbt-parse": {"repeats": 3},
    "dbt-run": {"repeats": 1, "breakdown": False},
    "lineage": {"repeats": 1, "parser_repeats": 5},
    "validate": {"repeats": 2},
    "executors": {"runs": 1, "tasks": 100},
}
# bench_dev.py is another developer's: its goals, as its `goals_met` checks them (ratio akko / stock at most).
DEV_GOALS = {"ready_cold": 1.0, "ready_warm": 1.0, "gap_median": 0.5}


def _module(name: str) -> str:
    return ENTRIES.get(name, (name, {}))[0]


def _measure(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """In the spawned process: import benchmarks/bench_<module>.py and call its measure()."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    module_name = f"bench_{_module(name)}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return {"unavailable": f"{module_name}.py cannot be imported: {exc}"}
    if not hasattr(module, "measure"):
        return {"unavailable": f"{module_name}.py has no measure() yet"}
    return module.measure(**kwargs)


def run(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            result = pool.submit(_measure, name, kwargs).result()
    except Exception as exc:  # a benchmark failing must not hide the others
        result = {"failed": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["_seconds"] = round(time.monotonic() - started)
    return result


def headline_rows(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    parse = results.get("parse")
    if parse is not None:
        rows.append(_row("parse: DagBag ms/DAG, akko / dag-factory", parse, "ratio", "goal_ratio_max", "<="))
    demo = results.get("demo")
    if demo is not None:
        rows.append(_row("demo: wall time, akko demo / plain DAG", demo, "ratio", "goal_ratio_max", "<="))
    builders = (
        ("dev", _dev_rows),
        ("checks", _checks_rows),
        ("checks-trino", _checks_rows),
        ("cluster", _cluster_rows),
        ("executors", _executors_rows),  # takes None: says it was not run
        ("dbt-parse", _dbt_parse_rows),
        ("dbt-run", _dbt_run_rows),
        ("lineage", _lineage_rows),
        ("validate", _validate_rows),
    )
    for name, build in builders:
        if results.get(name) is not None or name == "executors":
            rows += build(results.get(name))
    return rows


def _validate_rows(result: dict[str, Any]) -> list[list[Any]]:
    """bench_validate.py: a 1,000-step spec's validate time against its floor (load + one parse per SQL text),
    and how that grows from 100 steps (1 = linear)."""
    if "growth_1000_over_100" not in result:
        return [["validate: 1,000-step spec", "n/a", "", _why(result)]]
    sizes = {int(k): v for k, v in result["sizes"].items()}
    once = sizes[1000]["sqlglot_parses"] <= 1100  # 1,099 SQL texts in the 1,000-step spec
    return [
        [
            "validate: 1,000 steps, validate / floor",
            result["headline_1000_validate_over_floor"],
            "(reported)",
            "",
        ],
        ["validate: growth 100 -> 1,000 steps, against floor", result["growth_1000_over_100"], "~ 1", ""],
        [
            "validate: one sqlglot parse per SQL text (1,000 steps)",
            sizes[1000]["sqlglot_parses"],
            "1,099",
            _yes(once),
        ],
    ]


def _row(label: str, result: dict[str, Any], key: str, goal_key: str, op: str) -> list[Any]:
    if key not in result:
        return [label, "n/a", "", _why(result)]
    goal = result.get(goal_key)
    met = result.get("meets_goal")
    return [label, result[key], f"{op} {round(goal, 3)}" if goal is not None else "", _yes(met)]


def _dev_rows(dev: dict[str, Any]) -> list[list[Any]]:
    ratios = dev.get("ratio_akko_over_stock")
    if not isinstance(ratios, dict) or not ratios:
        return [["dev: akko dev / airflow standalone", "n/a", "", _why(dev)]]
    rows = []
    for key, value in ratios.items():
        goal = DEV_GOALS.get(key)
        met = None if goal is None or not isinstance(value, int | float) else value <= goal
        label = f"dev: {key.replace('_', ' ')}, akko / stock"
        rows.append([label, value, f"<= {goal}" if goal is not None else "", _yes(met)])
    return rows


def _checks_rows(checks: dict[str, Any]) -> list[list[Any]]:
    """bench_checks.py: AKKO's checks (metadata + one statement, as production runs them) / the write they guard,
    one query per check / AKKO's checks, on DuckDB and on Trino; and (no goal) write_arrow with checks / without."""
    if "unavailable" in checks or "failed" in checks:
        return [["checks: quality checks benchmarks", "n/a", "", _why(checks)]]
    rows: list[list[Any]] = []
    settings = checks["settings"]
    for part, engine in (("write", "DuckDB"), ("trino", "Trino")):
        figures = checks.get(part)
        if not figures:
            continue
        goal = settings["goal_checks_over_write_max"]
        label = f"checks ({engine}): run_checks / write_table ({settings['rows']:,} rows)"
        rows.append([label, figures["checks_over_write"], f"< {goal}", _yes(figures["meets_goal_write"])])
        goal = settings["goal_speedup_min"]
        label = f"checks ({engine}): one query per check / run_checks"
        rows.append([label, figures["speedup"], f">= {goal}", _yes(figures["meets_goal_speedup"])])
    wap = checks.get("wap")
    if wap:
        rows.append(
            ["checks: write_arrow with 8 checks / without", wap["checked_over_plain"]["ratio"], "", ""]
        )
    return rows


def _executors_rows(executors: dict[str, Any] | None) -> list[list[Any]]:
    """bench_executors.py: LocalExecutor and Celery (2 workers) / `airflow standalone` defaults (no goal)."""
    if executors is None:
        return []
    ratios = executors.get("ratio_vs_stock")
    if not isinstance(ratios, dict):
        return [["executors: LocalExecutor, Celery / airflow standalone", "n/a", "", _why(executors)]]
    rows: list[list[Any]] = []
    for name, figures in ratios.items():
        for key in ("tasks_per_s", "queued_to_start_median_s"):
            rows.append([f"executors: {name} {key.replace('_', ' ')} / standalone", figures.get(key), "", ""])
    return rows


def _cluster_rows(cluster: dict[str, Any]) -> list[list[Any]]:
    """bench_cluster.py: the demo's wall time cluster / local (no goal), and each step's runner / direct."""
    if "unavailable" in cluster or "failed" in cluster:
        return [["cluster: akko stack benchmarks", "n/a", "", _why(cluster)]]
    rows: list[list[Any]] = []
    demo = cluster.get("demo")
    if demo:
        rows.append(
            ["cluster: demo wall time, cluster / local profile", demo["ratio_cluster_over_local"], "", ""]
        )
    goal = round(1 + cluster["settings"]["goal_overhead_pct_max"] / 100, 3)
    for label, part in (
        ("cluster: Trino sql step, run_sql / direct", cluster.get("trino", {}).get("step")),
        ("cluster: Trino query, TrinoEngine / cursor", cluster.get("trino", {}).get("query_only")),
        ("cluster: Spark step, run_spark / direct", cluster.get("spark", {}).get("step")),
    ):
        if part:
            ratio = round(1 + part["overhead_pct"] / 100, 3)
            rows.append([label, ratio, f"< {goal}", _yes(part["meets_goal"])])
    return rows


def _dbt_parse_rows(result: dict[str, Any]) -> list[list[Any]]:
    """bench_dbt_parse.py: how many times faster AKKO parses a 200-model dbt step than cosmos (reference / akko,
    so the goal is a minimum), and that no dbt process or import happened at AKKO's parse."""
    if "unavailable" in result or "failed" in result:
        return [["dbt-parse: dbt step parse benchmarks", "n/a", "", _why(result)]]
    goal = result["settings"]["goal_speedup_min"]
    no_dbt = result["akko_no_dbt_at_parse"]
    return [
        [
            "dbt-parse: parse s, cosmos default / akko (x faster)",
            result["speedup_default"],
            f">= {goal:g}",
            _yes(result["meets_goal_speedup"]),
        ],
        ["dbt-parse: parse s, cosmos DBT_MANIFEST / akko", result["speedup_manifest"], "", ""],
        ["dbt-parse: akko parse runs or imports no dbt", "yes" if no_dbt else "no", "yes", _yes(no_dbt)],
    ]


def _dbt_run_rows(result: dict[str, Any]) -> list[list[Any]]:
    """bench_dbt_run.py: the banking demo's dbt step / `dbt build` of the same project and data, and the whole
    `akko run` / `dbt build` (no goal)."""
    if "unavailable" in result or "failed" in result:
        return [["dbt-run: dbt step run benchmarks", "n/a", "", _why(result)]]
    ratios, goal = result["ratios"], result["settings"]["goal_ratio_max"]
    return [
        [
            "dbt-run: dbt step / dbt build (banking demo)",
            ratios["step_wall_over_dbt_build"],
            f"<= {goal}",
            _yes(result["meets_goal"]),
        ],
        ["dbt-run: akko run / dbt build", ratios["akko_run_over_dbt_build"], "", ""],
    ]


def _lineage_rows(result: dict[str, Any]) -> list[list[Any]]:
    """bench_lineage.py: the time the demo's tasks spend in the OpenLineage listener, % of their time without
    lineage (goal < 5%), per transport; and column maps right, sqlglot / openlineage-sql (reported)."""
    if "unavailable" in result or "failed" in result:
        return [["lineage: lineage benchmarks", "n/a", "", _why(result)]]
    rows: list[list[Any]] = []
    cost = result.get("cost")
    if cost:
        for mode in ("file", "http"):
            pct = cost["cost"][mode]["listener_pct_of_task_time"]
            met = pct < cost["goal_pct_max"]
            rows.append(
                [
                    f"lineage: {mode} transport, % of demo task time",
                    pct,
                    f"< {cost['goal_pct_max']:g}",
                    _yes(met),
                ]
            )
    parsers = result.get("parsers")
    if parsers:
        right = f"{parsers['sqlglot']['right']}/{parsers['openlineage_sql']['right_trino']}"
        rows.append(
            [f"lineage: column maps right of {parsers['cases']}, sqlglot/openlineage-sql", right, "", ""]
        )
    return rows


def _yes(met: Any) -> str:
    return "" if met is None else ("yes" if met else "NO")


def _why(result: dict[str, Any]) -> str:
    return result.get("unavailable") or result.get("failed") or "no ratio in its result"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated: {','.join(BENCHMARKS + OPTIONAL)}",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also bench_cluster.py and bench_checks.py's Trino part (each starts akko stack; "
        "AKKO_BENCH_CLUSTER=1 does the same)",
    )
    parser.add_argument(
        "--state-dir", help="the cluster benchmarks use the stack `akko stack up` runs for this state folder"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if args.cluster or os.environ.get("AKKO_BENCH_CLUSTER") == "1":
        names += [name for name in OPTIONAL if name not in names]
    unknown = sorted(set(names) - set(BENCHMARKS) - set(OPTIONAL))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"running {name} benchmark...", flush=True)
        kwargs = {**ENTRIES.get(name, (name, {}))[1], **(QUICK[name] if args.quick else {})}
        if args.state_dir and name in STACK_ARGS:
            kwargs[STACK_ARGS[name]] = args.state_dir
        results[name] = run(name, kwargs)
        print(f"  {name}: done in {results[name]['_seconds']} s", flush=True)
        if "traceback" in results[name]:
            print(results[name]["traceback"], file=sys.stderr)
    _print_details(results)
    print()
    print(table(["headline (akko / reference)", "ratio", "goal", "met"], headline_rows(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def _print_details(results: dict[str, dict[str, Any]]) -> None:
    for name, result in results.items():
        print()
        if "unavailable" in result or "failed" in result:
            print(f"{name}: {_why(result)}")
            continue
        module = importlib.import_module(f"bench_{_module(name)}")
        report = getattr(module, "report", None)
        print(report(result) if callable(report) else json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
