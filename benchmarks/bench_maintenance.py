"""Iceberg maintenance: a table written by N small appends (AKKO's writer, partitioned by region), then
maintained (`akko maintain`'s code, the local profile): files and manifests before/after, and the time of the same
queries through the embedded engine (DuckDB) before and after, as a ratio.

    uv run python benchmarks/bench_maintenance.py [--appends 200] [--repeats 7]

Results: benchmarks/results/maintenance-<UTC stamp>.json. Works in its own temporary project and state folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, table  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"

QUERIES = {
    "group by region": "SELECT region, count(*) AS n, sum(amount) AS total FROM demo.events GROUP BY region",
    "filter one region": "SELECT count(*) AS n FROM demo.events WHERE region = 'eu' AND amount > 10",
    "full scan ordered": "SELECT * FROM demo.events ORDER BY id",
}


def measure(appends: int = 200, repeats: int = 7, json_path: str | None = None) -> dict[str, Any]:
    import pyarrow as pa

    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lakehouse.writer import write_table
    from akko_orchestrator.maintenance.run import maintain
    from akko_orchestrator.spec.models import Output

    load_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="akko-bench-maintenance-"))
    try:
        (work / "akko.yaml").write_text("lakehouse: akko\nmaintenance: {}\n")
        os.environ["AKKO_STATE_DIR"] = str(work / ".akko")
        project = load_project(work)
        catalog = open_catalog(project)
        output = Output(table="demo.events", mode="append", partition_by=["region"])
        started = time.perf_counter()
        for run in range(appends):
            rows = pa.table(
                {
                    "id": pa.array(range(10 * run, 10 * run + 10), pa.int64()),
                    "region": [("eu", "us", "apac")[(run + i) % 3] for i in range(10)],
                    "amount": pa.array([run * 0.5 + i for i in range(10)], pa.float64()),
                }
            )
            write_table(catalog, output, rows, properties={"akko.pipeline": "bench", "akko.run-id": str(run)})
        append_s = time.perf_counter() - started
        before, answers_before = _query_times(project, catalog, repeats)
        started = time.perf_counter()
        [report] = maintain(project, ["demo.events"])
        maintain_s = time.perf_counter() - started
        after, answers_after = _query_times(project, catalog, repeats)
    finally:
        os.environ.pop("AKKO_STATE_DIR", None)
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = {
        "appends": appends,
        "append_seconds": round(append_s, 2),
        "maintenance_seconds": round(maintain_s, 2),
        "maintenance": report.as_dict(),
        "identical_results": answers_before == answers_after,
        "queries_ms": {
            name: {
                "before": round(before[name], 1),
                "after": round(after[name], 1),
                "after/before": round(after[name] / before[name], 3),
            }
            for name in QUERIES
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1_5_15_start": load_start,
            "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(json_path) if json_path else RESULTS / f"maintenance-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def _query_times(project: Any, catalog: Any, repeats: int) -> tuple[dict[str, float], list[Any]]:
    """Median milliseconds per query over `repeats` rounds (a fresh engine each round: DuckDB re-reads the
    table's metadata and files, as a new step would), and the answers (sorted rows)."""
    from akko_orchestrator.engines.registry import create_engine

    times: dict[str, list[float]] = {name: [] for name in QUERIES}
    answers: list[Any] = []
    for round_ in range(repeats):
        engine = create_engine("duckdb", project, catalog)
        try:
            for name, sql in QUERIES.items():
                started = time.perf_counter()
                rows = engine.query(sql, ["demo.events"])
                times[name].append((time.perf_counter() - started) * 1000)
                if round_ == 0:
                    answers.append(sorted(rows.to_pylist(), key=lambda r: json.dumps(r, sort_keys=True)))
        finally:
            engine.close()
    return {name: statistics.median(values) for name, values in times.items()}, answers


def report(result: dict[str, Any]) -> str:
    m = result["maintenance"]
    lines = [
        f"{result['appends']} appends ({result['append_seconds']} s), maintenance {result['maintenance_seconds']} s:"
        f" {m['summary']}",
        f"data files {m['files_before']} -> {m['files_after']}, manifests {m['manifests_before']} -> "
        f"{m['manifests_after']}, bytes {m['bytes_before']} -> {m['bytes_after']}; identical results: "
        f"{result['identical_results']}",
        "",
        table(
            ["query (DuckDB)", "before ms", "after ms", "after/before"],
            [[n, q["before"], q["after"], q["after/before"]] for n, q in result["queries_ms"].items()],
        ),
        f"load average {result['machine']['loadavg_1_5_15_start']} -> {result['machine']['loadavg_1_5_15_end']}",
        f"results: {result['json_file']}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/maintenance-*.json)"
    )
    args = parser.parse_args()
    print(report(measure(args.appends, args.repeats, args.json)))


if __name__ == "__main__":
    main()
