"""Iceberg maintenance: a table written by N small appends (AKKO's writer, partitioned by region), then
maintained (`akko maintain`'s code, the local profile): files and manifests before/after, and the time of the same
queries through the embedded engine (DuckDB) before and after, as a ratio.

    uv run python benchmarks/bench_maintenance.py [--appends 200] [--repeats 7]
    uv run python benchmarks/bench_maintenance.py --cluster   # on `akko stack` (Trino), started and stopped here

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

TABLE = "bench_maint.events"
QUERIES = {
    "group by region": "SELECT region, count(*) AS n, sum(amount) AS total FROM bench_maint.events GROUP BY region",
    "filter one region": "SELECT count(*) AS n FROM bench_maint.events WHERE region = 'eu' AND amount > 10",
    "full scan ordered": "SELECT * FROM bench_maint.events ORDER BY id",
}


def measure(
    appends: int = 200, repeats: int = 7, json_path: str | None = None, cluster: bool = False
) -> dict[str, Any]:
    load_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="akko-bench-maintenance-"))
    try:
        if cluster:
            from bench_cluster import environment, stack

            with (
                stack(None) as running,
                environment({**running.env, "AKKO_STATE_DIR": str(running.state_dir)}),
            ):
                shutil.copy(REPO / "akko.yaml", work / "akko.yaml")
                figures = _run(work, "cluster", appends, repeats)
        else:
            (work / "akko.yaml").write_text("lakehouse: akko\n")
            os.environ["AKKO_STATE_DIR"] = str(work / ".akko")
            figures = _run(work, "local", appends, repeats)
    finally:
        os.environ.pop("AKKO_STATE_DIR", None)
        shutil.rmtree(work, ignore_errors=True)
    append_s, maintain_s, report, before, after, same = figures
    result: dict[str, Any] = {
        "appends": appends,
        "append_seconds": round(append_s, 2),
        "maintenance_seconds": round(maintain_s, 2),
        "maintenance": report.as_dict(),
        "profile": "cluster" if cluster else "local",
        "identical_results": same,
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
    name = "maintenance-cluster" if cluster else "maintenance"
    path = Path(json_path) if json_path else RESULTS / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def _run(work: Path, profile: str, appends: int, repeats: int) -> tuple[Any, ...]:
    """N appends through pyiceberg, queries, `akko maintain`'s code on the profile, queries again."""
    import pyarrow as pa

    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lakehouse.writer import write_table
    from akko_orchestrator.maintenance.run import maintain
    from akko_orchestrator.spec.models import Output

    project = load_project(work, profile=profile)
    catalog = open_catalog(project)
    output = Output(table=TABLE, mode="append", partition_by=["region"])
    started = time.perf_counter()
    table = None
    for run in range(appends):
        rows = pa.table(
            {
                "id": pa.array(range(10 * run, 10 * run + 10), pa.int64()),
                "region": [("eu", "us", "apac")[(run + i) % 3] for i in range(10)],
                "amount": pa.array([run * 0.5 + i for i in range(10)], pa.float64()),
            }
        )
        identity = {"akko.pipeline": "bench", "akko.run-id": str(run)}
        if table is None:
            write_table(catalog, output, rows, properties=identity)
            table = catalog.load_table(TABLE)
        else:
            table.append(rows, snapshot_properties=identity)
    append_s = time.perf_counter() - started
    before, answers_before = _query_times(project, catalog, repeats)
    started = time.perf_counter()
    [report] = maintain(project, [TABLE])
    maintain_s = time.perf_counter() - started
    after, answers_after = _query_times(project, catalog, repeats)
    return append_s, maintain_s, report, before, after, answers_before == answers_after


def _query_times(project: Any, catalog: Any, repeats: int) -> tuple[dict[str, float], list[Any]]:
    """Median milliseconds per query over `repeats` rounds (a fresh engine each round: DuckDB re-reads the
    table's metadata and files, as a new step would), and the answers (sorted rows)."""
    from akko_orchestrator.engines.registry import create_engine

    times: dict[str, list[float]] = {name: [] for name in QUERIES}
    answers: list[Any] = []
    for round_ in range(repeats):
        engine = create_engine(project.profile.sql_engine, project, catalog)
        try:
            for name, sql in QUERIES.items():
                started = time.perf_counter()
                rows = engine.query(sql, [TABLE])
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
            [
                f"query ({'Trino' if result['profile'] == 'cluster' else 'DuckDB'})",
                "before ms",
                "after ms",
                "after/before",
            ],
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
    parser.add_argument("--cluster", action="store_true", help="on `akko stack` (Trino); needs Java")
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/maintenance-*.json)"
    )
    args = parser.parse_args()
    print(report(measure(args.appends, args.repeats, args.json, args.cluster)))


if __name__ == "__main__":
    main()
