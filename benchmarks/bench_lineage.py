"""The cost of OpenLineage per task on the demo, and sqlglot against openlineage-sql for column-level lineage.

1. **Lineage cost.** The demo (`akko_e2e_pipeline`, 7 task instances) on the embedded profile, with akko.yaml
   `lineage: {transport: off}`, `{transport: file}` (the local event log only: the default) and
   `{transport: http}` to a loopback receiver in this process (stdlib http.server, answering 200 at once, as a
   healthy OpenMetadata would) plus the local log. Three throwaway copies of the demo project, each with its own
   state folder (Airflow home and metadata DB, catalog, object store); the first run of each is untimed (creates
   the DB and tables); then N rounds, each running the three once in a rotating order. Each run is a fresh
   process (`bench_lineage.py --child`: `run_pipeline` as `akko run` runs it, heap frozen at exit as the CLI
   does), since Airflow's OpenLineage provider reads its settings once per process. Measured per run: the sum of
   the task durations (Airflow's, from the run report), the dag.test time (RunReport.duration), the process's
   wall time, and, measured directly, the time tasks spent in the provider's listener (its START and end hooks,
   which build AKKO's facets and send the event; patched timers on `OpenLineageListener._execute`).
   Airflow's task duration holds the START hook but not the end one (the task runner sets `end_date`, then calls
   the listener's success/failure hook), so the cost judged is the listener's measured time (both hooks) as a
   share of the task time without lineage; the medians' ratios (task time, dag.test, wall) are reported beside
   it. Goal (issue "OpenLineage from every step"): lineage costs under 5% of task time on the demo.
2. **Column lineage parsers.** The SQL shapes of tests/unit/test_lineage_columns.py (CASES, and KNOWN_LIMITS:
   the shapes sqlglot gets wrong), with their expected column
   maps) through AKKO's `lineage.columns.column_lineage` (sqlglot, given the tables' columns) and through
   `openlineage_sql.parse` (OpenLineage's Rust parser, the one Airflow's SQL operators use; it takes no table
   schemas), dialects "trino", "generic" and "ansi". A case is right when every output column gets exactly the
   expected source columns (tables compared without the `iceberg.` catalog; openlineage-sql gives no subtypes, so
   sources are compared as (table, column); sqlglot is also scored with its subtypes). Time per query: median of
   repeated calls, warm.

Run: `uv run python benchmarks/bench_lineage.py [--repeats 3] [--parser-repeats 20] [--only cost,parsers]`.
Figures go to benchmarks/results/lineage-<UTC time>.json (`--json FILE` elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, isolated_env, median, spread, table  # noqa: E402

GOAL_PCT = 5.0  # lineage at most this % of the demo's task time
RESULTS = REPO / "benchmarks" / "results"
PIPELINE = "akko_e2e_pipeline"
MODES = ("off", "file", "http")
DIALECTS = ("trino", "generic", "ansi")


# ---------------------------------------------------------------------------------------------- 1. the cost


class _Receiver:
    """A loopback OpenLineage consumer: 200 at once for every POST, counting them."""

    def __init__(self) -> None:
        receiver = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _project(root: Path, mode: str, url: str) -> Path:
    """A copy of the demo project whose akko.yaml sets `lineage:` for `mode`."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data", root / "data")
    lineage = {"transport": mode} if mode != "http" else {"transport": "http", "url": url}
    text = (REPO / "akko.yaml").read_text(encoding="utf-8")
    (root / "akko.yaml").write_text(f"{text}\nlineage: {json.dumps(lineage)}\n", encoding="utf-8")
    return root


def _run(root: Path, out: Path) -> dict[str, Any]:
    state = root / ".akko"
    env = isolated_env(state / "airflow", AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(state))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(out)], env=env, cwd=root, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(
            f"the demo run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    figures = json.loads(out.read_text())
    if figures["state"] != "success":
        raise RuntimeError(f"the demo run did not succeed: {figures}")
    return {**figures, "wall_s": wall}


def child(out: str) -> int:
    """In the fresh process: run the demo, timing the OpenLineage listener's work, and write the figures."""
    import atexit
    import gc

    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    atexit.register(gc.freeze)  # as the CLI does: the final collection of Airflow's heap is not the run's
    spent = {"listener_s": 0.0, "listener_calls": 0}
    project = load_project()
    if project.config.lineage.transport != "off":
        from airflow.providers.openlineage.plugins.listener import OpenLineageListener

        original = OpenLineageListener._execute

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                spent["listener_s"] += time.perf_counter() - started
                spent["listener_calls"] += 1

        OpenLineageListener._execute = timed  # type: ignore[method-assign]
    report = run_pipeline(project, PIPELINE)
    figures = {
        "state": report.state,
        "dag_test_s": report.duration,
        "task_s": sum(t.duration or 0.0 for t in report.tasks),
        "tasks": len(report.tasks),
        **spent,
    }
    log = project.state_dir / "lineage" / "events.jsonl"
    figures["log_lines"] = log.read_text(encoding="utf-8").count("\n") if log.is_file() else 0
    Path(out).write_text(json.dumps(figures))
    return 0


def measure_cost(repeats: int = 3, keep: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="akko-bench-lineage-"))
    receiver = _Receiver()
    try:
        roots = {mode: _project(tmp / mode, mode, receiver.url) for mode in MODES}
        first = {mode: _run(roots[mode], tmp / f"first-{mode}.json") for mode in MODES}
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for rep in range(repeats):
            order = MODES[rep % 3 :] + MODES[: rep % 3]
            for mode in order:
                print(f"round {rep + 1}/{repeats}: {mode}", file=sys.stderr, flush=True)
                runs[mode].append(_run(roots[mode], tmp / f"{mode}-{rep}.json"))
        received = receiver.count
    finally:
        receiver.close()
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return _cost_figures(first, runs, received, repeats)


def _cost_figures(
    first: dict[str, dict[str, Any]], runs: dict[str, list[dict[str, Any]]], received: int, repeats: int
) -> dict[str, Any]:
    def med(mode: str, key: str) -> float:
        return round(median([r[key] for r in runs[mode]]), 3)

    modes: dict[str, Any] = {}
    for mode in MODES:
        modes[mode] = {
            key: med(mode, key) for key in ("task_s", "dag_test_s", "wall_s", "listener_s", "listener_calls")
        }
        modes[mode]["task_s_range"] = spread([r["task_s"] for r in runs[mode]])
        modes[mode]["wall_s_range"] = spread([r["wall_s"] for r in runs[mode]])
        modes[mode]["first_run_wall_s"] = round(first[mode]["wall_s"], 2)
        modes[mode]["tasks"] = runs[mode][0]["tasks"]
        modes[mode]["samples"] = runs[mode]
    off = modes["off"]
    cost: dict[str, Any] = {}
    for mode in ("file", "http"):
        figures = modes[mode]
        cost[mode] = {
            # measured directly: what the tasks spent in the listener, against the task time without lineage
            "listener_pct_of_task_time": round(100 * figures["listener_s"] / off["task_s"], 2),
            "listener_ms_per_task": round(1000 * figures["listener_s"] / figures["tasks"], 1),
            # differences of medians (noisier: other jobs share the machine)
            "task_time_ratio": round(figures["task_s"] / off["task_s"], 3),
            "dag_test_ratio": round(figures["dag_test_s"] / off["dag_test_s"], 3),
            "wall_ratio": round(figures["wall_s"] / off["wall_s"], 3),
        }
    worst = max(cost["file"]["listener_pct_of_task_time"], cost["http"]["listener_pct_of_task_time"])
    return {
        "repeats": repeats,
        "modes": modes,
        "cost": cost,
        "events_received_http": received,
        "goal_pct_max": GOAL_PCT,
        "meets_goal": worst < GOAL_PCT,
    }


# ------------------------------------------------------------------------------------------- 2. the parsers


def _cases() -> tuple[
    list[tuple[str, str, dict[str, list[tuple[str, str, str]]]]], dict[str, dict[str, str]]
]:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.unit.test_lineage_columns import CASES, KNOWN_LIMITS, SCHEMA

    return [*CASES, *KNOWN_LIMITS], SCHEMA


def _table(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.lower().replace('"', "")
    return name.removeprefix("iceberg.")


def _as_pairs(answer: dict[str, list[tuple[str, str, str]]] | dict[str, set[tuple[str, str]]]) -> dict:
    return {col: {(s[0], s[1]) for s in sources} for col, sources in answer.items() if sources}


def _openlineage_sql(sql: str, dialect: str) -> tuple[dict[str, set[tuple[str, str]]], str | None]:
    """openlineage-sql's column lineage as {column: {(table, column)}} (sources of no known table dropped), and
    its error if it raised or reported one."""
    import openlineage_sql

    try:
        meta = openlineage_sql.parse([sql], dialect=dialect)
    except Exception as exc:  # its parse errors
        return {}, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"  # without its Rust backtrace
    found: dict[str, set[tuple[str, str]]] = {}
    known = {_table(t.qualified_name) for t in meta.in_tables}  # not an alias such as UNNEST's `t`
    for item in meta.column_lineage:
        sources = {
            (_table(c.origin.qualified_name), c.name.lower())
            for c in item.lineage
            if c.origin is not None and _table(c.origin.qualified_name) in known
        }
        if sources:
            found.setdefault(item.descendant.name.lower(), set()).update(sources)
    errors = "; ".join(str(e) for e in meta.errors) if meta.errors else None
    return found, errors


def _timed(call: Any, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return median(samples)


def measure_parsers(repeats: int = 20) -> dict[str, Any]:
    os.environ["RUST_BACKTRACE"] = "0"  # openlineage-sql's errors would print a Rust backtrace each
    import openlineage_sql

    from akko_orchestrator.lineage.columns import column_lineage

    cases, schema = _cases()
    column_lineage("SELECT 1 AS x", schema)  # imports and sqlglot's first-use caches, untimed
    openlineage_sql.parse(["SELECT 1 AS x"], dialect="trino")
    rows = []
    for case_id, sql, expected in cases:
        want = _as_pairs(expected)
        traced = {
            c: [(s.table, s.column, s.subtype) for s in v] for c, v in column_lineage(sql, schema).items()
        }
        exact = {c: sorted(v) for c, v in traced.items()} == {c: sorted(v) for c, v in expected.items()}
        row: dict[str, Any] = {
            "case": case_id,
            "sqlglot_right": _as_pairs(traced) == want,
            "sqlglot_right_with_subtypes": exact,
            "sqlglot_ms": round(1000 * _timed(lambda s=sql: column_lineage(s, schema), repeats), 3),
        }
        for dialect in DIALECTS:
            found, error = _openlineage_sql(sql, dialect)
            row[f"openlineage_sql_{dialect}_right"] = found == want
            if dialect == "trino":
                row["openlineage_sql_answer"] = {c: sorted(v) for c, v in found.items()}
                row["openlineage_sql_error"] = error
                row["openlineage_sql_ms"] = round(
                    1000 * _timed(lambda s=sql: _openlineage_sql(s, "trino"), repeats), 3
                )
        rows.append(row)
    total = len(rows)

    def right(key: str) -> int:
        return sum(bool(r[key]) for r in rows)

    return {
        "cases": total,
        "repeats": repeats,
        "sqlglot": {
            "right": right("sqlglot_right"),
            "right_with_subtypes": right("sqlglot_right_with_subtypes"),
            "median_ms_per_query": round(median([r["sqlglot_ms"] for r in rows]), 3),
            "total_ms_all_cases": round(sum(r["sqlglot_ms"] for r in rows), 2),
            "wrong": [r["case"] for r in rows if not r["sqlglot_right"]],
        },
        "openlineage_sql": {
            "version": _version("openlineage-sql"),
            **{f"right_{d}": right(f"openlineage_sql_{d}_right") for d in DIALECTS},
            "same_answers_in_every_dialect": all(
                len({r[f"openlineage_sql_{d}_right"] for d in DIALECTS}) == 1 for r in rows
            ),
            "median_ms_per_query": round(median([r["openlineage_sql_ms"] for r in rows]), 3),
            "total_ms_all_cases": round(sum(r["openlineage_sql_ms"] for r in rows), 2),
            "wrong": [r["case"] for r in rows if not r["openlineage_sql_trino_right"]],
        },
        "per_case": rows,
    }


# --------------------------------------------------------------------------------------------------- common


def _version(package: str) -> str:
    from importlib.metadata import version

    try:
        return version(package)
    except Exception:  # not installed
        return "not installed"


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": len(git("status", "--porcelain").splitlines())}


def measure(
    repeats: int = 3,
    parser_repeats: int = 20,
    only: tuple[str, ...] = ("cost", "parsers"),
    keep: bool = False,
    json_path: str | None = None,
) -> dict[str, Any]:
    load_start = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {}
    if "parsers" in only:
        result["parsers"] = measure_parsers(parser_repeats)
    if "cost" in only:
        result["cost"] = measure_cost(repeats, keep)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1_5_15_start": load_start,
        "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
    }
    result["versions"] = {
        p: _version(p)
        for p in ("apache-airflow", "apache-airflow-providers-openlineage", "openlineage-python", "sqlglot")
    }
    result["git"] = _git_state()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(json_path) if json_path else RESULTS / f"lineage-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def report(result: dict[str, Any]) -> str:
    lines: list[str] = []
    machine = result["machine"]
    if "cost" in result:
        cost = result["cost"]
        modes = cost["modes"]
        lines.append(
            f"Lineage cost on the demo ({modes['off']['tasks']} task instances), fresh process per run, median of "
            f"{cost['repeats']} rotating rounds (s); load {machine['loadavg_1_5_15_start']} -> "
            f"{machine['loadavg_1_5_15_end']}, {machine['cpus']} CPUs"
        )
        rows = [
            [
                mode,
                f"{modes[mode]['task_s']:.2f}",
                modes[mode]["task_s_range"],
                f"{modes[mode]['dag_test_s']:.2f}",
                f"{modes[mode]['wall_s']:.2f}",
                f"{modes[mode]['listener_s']:.3f}",
            ]
            for mode in MODES
        ]
        lines.append(
            table(["lineage", "task time", "range", "dag.test", "wall", "in listener"], rows)  # noqa: E501
        )
        for mode in ("file", "http"):
            c = cost["cost"][mode]
            lines.append(
                f"{mode}: listener {c['listener_ms_per_task']} ms per task = {c['listener_pct_of_task_time']}% of "
                f"the task time without lineage; medians {mode}/off: task time {c['task_time_ratio']}, dag.test "
                f"{c['dag_test_ratio']}, wall {c['wall_ratio']}"
            )
        verdict = "meets" if cost["meets_goal"] else "MISSES"
        lines.append(
            f"goal: lineage < {cost['goal_pct_max']}% of task time: {verdict}; "
            f"events received over http: {cost['events_received_http']}"
        )
    if "parsers" in result:
        p = result["parsers"]
        s, o = p["sqlglot"], p["openlineage_sql"]
        lines.append("")
        lines.append(
            f"Column lineage of {p['cases']} SQL shapes (tests/unit/test_lineage_columns.py), cases right / time "
            f"per query (median of {p['repeats']} warm calls)"
        )
        lines.append(
            table(
                ["parser", "right", "median ms/query", "all cases ms", "wrong"],
                [
                    [
                        "sqlglot (AKKO, with schemas)",
                        f"{s['right']} ({s['right_with_subtypes']} with subtypes)",
                        s["median_ms_per_query"],
                        s["total_ms_all_cases"],
                        ", ".join(s["wrong"]) or "-",
                    ],
                    [
                        f"openlineage-sql {o['version']} (trino)",
                        f"{o['right_trino']} (generic {o['right_generic']}, ansi {o['right_ansi']})",
                        o["median_ms_per_query"],
                        o["total_ms_all_cases"],
                        ", ".join(o["wrong"]),
                    ],
                ],
            )
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the three demo runs")
    parser.add_argument("--parser-repeats", type=int, default=20)
    parser.add_argument("--only", default="cost,parsers", help="comma-separated: cost, parsers")
    parser.add_argument("--keep", action="store_true", help="keep the state folders")
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/lineage-*.json)"
    )
    args = parser.parse_args()
    only = tuple(part.strip() for part in args.only.split(",") if part.strip())
    with contextlib.suppress(KeyboardInterrupt):
        print(report(measure(args.repeats, args.parser_repeats, only, args.keep, args.json)))


if __name__ == "__main__":
    main()
