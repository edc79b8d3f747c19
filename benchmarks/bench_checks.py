"""Data-quality checks on the embedded profile (pyiceberg SQL catalog on SQLite + DuckDB): what a write's checks
cost against the write they guard, and AKKO's single aggregate statement against one query per check.

Everything runs in this process, in a throwaway project (the repo's akko.yaml, profile `local`, its own state
folder); the catalog and the DuckDB engine of a `StepContext` stay open throughout, as within one task.

Data, generated deterministically (numpy, fixed seed): `bench.orders`, 1,000,000 rows (`--rows`): id (int64,
unique, shuffled), customer_id (1..10,000), region (5 values), amount (double), quantity (int32), ordered_at
(timestamptz, up to 30 days before the start of the current UTC hour, so the freshness check passes), status
(6 values); and the dimension `bench.customers` (10,000 ids). Eight checks, all passing: not_null [id,
customer_id], unique id, accepted_values status, range amount, row_count (min 1, max_shrink 10%), freshness
ordered_at (2d), expression, relationships customer_id -> bench.customers.id.

1. Checks against the write (goal: checks < 30% of the write). The write: `lakehouse.writer.write_table` of the
   Arrow table to bench.orders (overwrite mode, pyiceberg); the checks: `quality.runner.run_checks` on the
   snapshot just written. Each repetition writes, then checks. The same on `bench.orders_rg`, identical but for
   the table property write.parquet.row-group-limit = 131,072 rows (`--row-group-rows`; pyiceberg's default,
   1,048,576, makes 1M rows one Parquet row group, and DuckDB scans a row group on one thread); the two tables
   alternate.
   End to end: `runtime.publish.write_arrow` with the eight checks (audit branch commit, checks, history record,
   publish) against `write_arrow` without checks (one commit on main), alternating, a new run id per call.
2. Single scan against one query per check (goal: >= 3x): `engine.query(plan.aggregate_sql, ...)` against every
   statement of `one_query_per_check(plan)` in turn; same engine, same snapshot (`versions` pinned), each statement
   given the tables it reads. Both must give the same metrics. On both tables.
3. Where the time goes (informational): the aggregate with DuckDB threads=1 (on both tables), run on DuckDB
   directly (its translated SQL), without its count(DISTINCT), without its join; count(DISTINCT id) alone; the
   relationships join alone; every column decoded (a sum of each); AKKO's fixed cost per query; the write's Parquet
   encoding alone (pyarrow, pyiceberg's settings); and the phases of `write_arrow` with checks (time spent in each
   function it calls, in a separate pass).

Medians of `--runs` interleaved repetitions after a warm-up; ratios are within this run (the machine is shared and
noisy). As noise checks: the median of the per-repetition ratios, the ratio of the fastest runs, and process CPU
time (every thread: DuckDB's and pyarrow's too). Figures, samples, the machine's load and the git commit go to
benchmarks/results/checks-<UTC time>.json (`--json FILE` elsewhere).

Run: `uv run python benchmarks/bench_checks.py [--runs 9] [--rows 1000000] [--row-group-rows 131072]
[--only write,wap,scan,breakdown]`, or `uv run python benchmarks/run_all.py --only checks`.
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
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, apply_env, isolated_env, median, spread, table  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GOAL_CHECKS_OVER_WRITE = 0.30  # checks < 30% of the write they guard
GOAL_SPEEDUP = 3.0  # one query per check / single scan >= 3
ROWS = 1_000_000
CUSTOMERS = 10_000
SEED = 20261124
ROW_GROUP_ROWS = 131_072  # the row-group variant's write.parquet.row-group-limit (--row-group-rows)
ORDERS = "bench.orders"  # pyiceberg's default row groups (1,048,576 rows)
ORDERS_RG = "bench.orders_rg"  # row groups of --row-group-rows
DIMENSION = "bench.customers"
WAP_TABLES = ("bench.orders_wap", "bench.orders_plain")  # write_arrow with checks / without
PIPELINE = "bench_checks"
STATUSES = ("placed", "paid", "shipped", "delivered", "returned", "cancelled")
REGIONS = ("EU", "US", "APAC", "LATAM", "MEA")


# ---------------------------------------------------------------------------------------------------------------
# Data and checks


def make_orders(rows: int, anchor: dt.datetime) -> Any:
    """The orders table: the same rows for the same `rows` (timestamps are offsets before `anchor`)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED)
    anchor_us = int(anchor.timestamp()) * 1_000_000
    month_us = 30 * 86_400 * 1_000_000
    return pa.table(
        {
            "id": pa.array(rng.permutation(rows).astype(np.int64) + 1),
            "customer_id": pa.array(rng.integers(1, CUSTOMERS + 1, rows, dtype=np.int64)),
            "region": pa.array(np.array(REGIONS)[rng.integers(0, len(REGIONS), rows)]),
            "amount": pa.array(np.round(rng.gamma(2.0, 50.0, rows), 2)),
            "quantity": pa.array(rng.integers(1, 21, rows, dtype=np.int32)),
            "ordered_at": pa.array(anchor_us - rng.integers(0, month_us, rows), pa.timestamp("us", "UTC")),
            "status": pa.array(np.array(STATUSES)[rng.integers(0, len(STATUSES), rows)]),
        }
    )


def make_customers() -> Any:
    import numpy as np
    import pyarrow as pa

    return pa.table({"id": pa.array(np.arange(1, CUSTOMERS + 1, dtype=np.int64))})


def make_checks() -> list[Any]:
    from akko_orchestrator.spec.models import Check

    return [
        Check(not_null=["id", "customer_id"]),
        Check(unique=["id"]),
        Check(accepted_values={"column": "status", "values": list(STATUSES)}),
        Check(range={"column": "amount", "min": 0, "max": 100_000}),
        Check(row_count={"min": 1, "max_shrink": "10%"}),
        Check(freshness={"column": "ordered_at", "max_age": "2d"}),
        Check(expression="quantity BETWEEN 1 AND 100"),
        Check(relationships={"column": "customer_id", "to": DIMENSION, "field": "id"}),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Timing


class Samples:
    """Wall and process CPU seconds of repeated calls, by contender."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def time(self, name: str, call: Callable[[], Any]) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        result = call()
        self.wall.setdefault(name, []).append(time.perf_counter() - wall)
        self.cpu.setdefault(name, []).append(time.process_time() - cpu)
        return result

    def summary(self, name: str) -> dict[str, Any]:
        wall, cpu = self.wall[name], self.cpu[name]
        return {
            "median_s": round(median(wall), 4),
            "range_s": spread(wall),
            "min_s": round(min(wall), 4),
            "cpu_median_s": round(median(cpu), 4),
            "samples_s": [round(v, 4) for v in wall],
            "cpu_samples_s": [round(v, 4) for v in cpu],
        }

    def ratio(self, numerator: str, denominator: str) -> dict[str, Any]:
        """numerator / denominator: of the medians (the figure judged), and as noise checks the median of the
        per-repetition ratios, the ratio of the fastest runs and the ratio of the CPU-time medians."""
        num, den = self.wall[numerator], self.wall[denominator]
        return {
            "ratio": round(median(num) / median(den), 3),
            "ratio_pairs_median": round(median([n / d for n, d in zip(num, den, strict=True)]), 3),
            "ratio_of_minima": round(min(num) / min(den), 3),
            "ratio_cpu": round(median(self.cpu[numerator]) / median(self.cpu[denominator]), 3),
        }


def alternating(rep: int, names: list[str]) -> list[str]:
    return names if rep % 2 == 0 else list(reversed(names))


# ---------------------------------------------------------------------------------------------------------------
# The bench: one project, one catalog, one DuckDB engine


class Bench:
    def __init__(self, project_dir: Path, rows: int, row_group_rows: int = ROW_GROUP_ROWS):
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.runtime.context import StepContext

        self.project = load_project(project_dir, profile="local")
        self.rows = rows
        self.row_group_rows = row_group_rows
        self.ctx = StepContext(self.project, pipeline_id=PIPELINE, step_id="orders", run_id="bench")
        self.catalog = self.ctx.catalog
        started = time.perf_counter()
        self.engine = self.ctx.sql_engine
        self.engine.query("SELECT 1 AS one", [])  # the connection and its extensions are loaded lazily
        self.engine_open_s = round(time.perf_counter() - started, 3)
        self.anchor = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        self.data = make_orders(rows, self.anchor)
        self.generate_s = round(time.perf_counter() - started, 3)
        self.checks = make_checks()
        self.snapshots: dict[str, int] = {}

    def write(self, name: str) -> int:
        from akko_orchestrator.lakehouse.writer import write_table
        from akko_orchestrator.spec.models import Output

        written = write_table(
            self.catalog, Output(table=name, mode="overwrite"), self.data, self.ctx.snapshot_properties
        )
        assert written.rows == self.rows and written.snapshot_id is not None, written
        self.snapshots[name] = written.snapshot_id
        return written.snapshot_id

    def run_checks(self, name: str) -> Any:
        from akko_orchestrator.quality.runner import run_checks

        report = run_checks(self.engine, name, self.checks, self.snapshots[name], previous_rows=self.rows)
        if not report.passed or len(report.results) != len(self.checks):
            raise RuntimeError(f"the benchmark's checks must all pass:\n{report.text(samples=True)}")
        return report

    def setup(self) -> dict[str, Any]:
        """The dimension, then each table created by a first write (timed apart: it creates the table)."""
        from akko_orchestrator.lakehouse.writer import write_table
        from akko_orchestrator.spec.models import Output

        write_table(self.catalog, Output(table=DIMENSION), make_customers())
        first = {}
        for name in (ORDERS, ORDERS_RG):
            started = time.perf_counter()
            self.write(name)
            first[name] = round(time.perf_counter() - started, 3)
            if name == ORDERS_RG:
                tx = self.catalog.load_table(name).transaction()
                tx.set_properties({"write.parquet.row-group-limit": str(self.row_group_rows)})
                tx.commit_transaction()
        return first

    def files(self, name: str) -> dict[str, Any]:
        """The data files of the table's current snapshot: how many, their bytes and Parquet row groups."""
        import pyarrow.parquet as pq

        loaded = self.catalog.load_table(name)
        files = loaded.inspect.files()
        paths = files.column("file_path").to_pylist()
        io = loaded.io
        row_groups = 0
        for path in paths:
            with io.new_input(path).open() as stream:
                row_groups += pq.ParquetFile(stream).metadata.num_row_groups
        return {
            "table": name,
            "rows": sum(files.column("record_count").to_pylist()),
            "data_files": files.num_rows,
            "bytes": sum(files.column("file_size_in_bytes").to_pylist()),
            "row_groups": row_groups,
            "properties": dict(loaded.properties),
        }

    def plan(self, name: str, checks: list[Any] | None = None) -> Any:
        from akko_orchestrator.quality.checks import compile_checks

        return compile_checks(name, self.checks if checks is None else checks)

    def aggregate(self, name: str, checks: list[Any] | None = None) -> Callable[[], Any]:
        plan = self.plan(name, checks)
        reads = reads_of(plan)
        versions = {name: self.snapshots[name]}
        return lambda: self.engine.query(plan.aggregate_sql, reads, versions=versions)

    def per_check(self, name: str) -> Callable[[], list[Any]]:
        from akko_orchestrator.quality.checks import one_query_per_check

        plan = self.plan(name)
        statements = one_query_per_check(plan)
        reads = [reads_of(plan, compiled) for compiled in plan.checks]
        versions = {name: self.snapshots[name]}
        return lambda: [
            self.engine.query(sql, tables, versions=versions)
            for sql, tables in zip(statements, reads, strict=True)
        ]

    def close(self) -> None:
        self.ctx.close()
        engine = getattr(self.catalog, "engine", None)
        if engine is not None:
            engine.dispose()


def reads_of(plan: Any, compiled: Any = None) -> list[str]:
    """The tables a statement reads: the checked table, plus the other table of relationships checks."""
    checks = plan.checks if compiled is None else [compiled]
    others = {c.check.relationships.to for c in checks if c.check.relationships is not None}
    return sorted({plan.table, *others})


def same_metrics(single: Any, per_check: list[Any]) -> int:
    """The single statement's metrics equal those of the statements run one by one; returns how many."""
    expected = {k.lower(): v for k, v in single.to_pylist()[0].items()}
    got: dict[str, Any] = {}
    for result in per_check:
        got.update({k.lower(): v for k, v in result.to_pylist()[0].items()})
    if got != expected:
        raise RuntimeError(f"single scan and one query per check disagree:\n{expected}\n{got}")
    return len(expected)


# ---------------------------------------------------------------------------------------------------------------
# 1. Checks against the write


def measure_write_vs_checks(bench: Bench, runs: int) -> dict[str, Any]:
    samples = Samples()
    tables = [ORDERS, ORDERS_RG]
    for rep in range(-1, runs):  # rep -1: the warm-up, not recorded
        for name in alternating(rep, tables):
            if rep < 0:
                bench.write(name)
                bench.run_checks(name)
                continue
            samples.time(f"write {name}", lambda name=name: bench.write(name))
            samples.time(f"checks {name}", lambda name=name: bench.run_checks(name))
    result: dict[str, Any] = {"runs": runs}
    for name in tables:
        result[name] = {
            "write": samples.summary(f"write {name}"),
            "checks": samples.summary(f"checks {name}"),
            "checks_over_write": samples.ratio(f"checks {name}", f"write {name}"),
            "files": bench.files(name),
        }
    ratio = result[ORDERS]["checks_over_write"]["ratio"]
    result["checks_over_write"] = ratio
    result["meets_goal"] = ratio < GOAL_CHECKS_OVER_WRITE
    result["row_groups_speedup"] = {
        "checks": samples.ratio(f"checks {ORDERS}", f"checks {ORDERS_RG}"),
        "write": samples.ratio(f"write {ORDERS}", f"write {ORDERS_RG}"),
    }
    return result


def measure_write_arrow(bench: Bench, runs: int) -> dict[str, Any]:
    """write_arrow with the eight checks against write_arrow without checks; a new run id per call (an earlier
    run id would be found published and nothing written)."""
    from akko_orchestrator.runtime.context import StepContext
    from akko_orchestrator.runtime.publish import write_arrow
    from akko_orchestrator.spec.models import Output

    contexts = {}
    for variant, name in zip(("checked", "plain"), WAP_TABLES, strict=True):
        ctx = StepContext(bench.project, pipeline_id=PIPELINE, step_id=name.split(".")[1])
        ctx.__dict__.update(catalog=bench.catalog, sql_engine=bench.engine)  # shared, as within one task
        contexts[variant] = (ctx, Output(table=name, mode="overwrite"))
    counter = iter(range(1_000_000))

    def call(variant: str) -> Any:
        ctx, output = contexts[variant]
        ctx.run_id = f"bench-{next(counter)}"
        written = write_arrow(ctx, output, bench.checks if variant == "checked" else [], bench.data)
        assert written.rows == bench.rows and not written.already_published, written
        if variant == "checked":
            assert written.checks and written.checks["passed"] == len(bench.checks), written.checks
        return written

    samples = Samples()
    started = {}
    for variant in contexts:  # creates the tables (and the history table): reported apart
        clock = time.perf_counter()
        call(variant)
        started[variant] = round(time.perf_counter() - clock, 3)
    for rep in range(-1, runs):
        for variant in alternating(rep, list(contexts)):
            if rep < 0:
                call(variant)
            else:
                samples.time(variant, lambda v=variant: call(v))
    phases = write_arrow_phases(contexts["checked"][0], contexts["checked"][1], bench)
    return {
        "runs": runs,
        "first_call_s": started,
        "checked": samples.summary("checked"),
        "plain": samples.summary("plain"),
        "checked_over_plain": samples.ratio("checked", "plain"),
        "overhead_s": round(median(samples.wall["checked"]) - median(samples.wall["plain"]), 3),
        "phases": phases,
    }


def write_arrow_phases(ctx: Any, output: Any, bench: Bench, calls: int = 5) -> dict[str, Any]:
    """Seconds spent in each function `write_arrow` calls with checks, medians over `calls` calls (apart from the
    timed runs: the functions are wrapped to time them); `rest` is each call's total minus its phases."""
    from unittest import mock

    from akko_orchestrator.lakehouse import writer
    from akko_orchestrator.quality import history, runner
    from akko_orchestrator.runtime import publish

    targets = [
        ("exactly-once lookup (already_published)", publish, "already_published"),
        ("write to the audit branch (write_table)", writer, "write_table"),
        ("rows before the write (_rows_at)", publish, "_rows_at"),
        ("checks (run_checks)", runner, "run_checks"),
        ("history record (record)", history, "record"),
        ("publish (fast-forward main)", publish, "publish"),
    ]
    rest = "rest (load_table, logging, ...)"
    current: dict[str, float] = {}

    def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                current[label] = current.get(label, 0.0) + time.perf_counter() - started

        return wrapper

    per_call: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        for label, module, attribute in targets:
            stack.enter_context(
                mock.patch.object(module, attribute, timed(label, getattr(module, attribute)))
            )
        for index in range(calls):
            ctx.run_id = f"bench-phases-{index}"
            current.clear()
            started = time.perf_counter()
            publish.write_arrow(ctx, output, bench.checks, bench.data)
            total = time.perf_counter() - started
            per_call.append({**current, rest: total - sum(current.values()), "total": total})
    labels = [label for label, _, _ in targets] + [rest]
    seconds = {label: round(median([call.get(label, 0.0) for call in per_call]), 4) for label in labels}
    return {
        "calls": calls,
        "total_s": round(median([call["total"] for call in per_call]), 4),
        "seconds": seconds,
        "samples_s": [{k: round(v, 4) for k, v in call.items()} for call in per_call],
    }


# ---------------------------------------------------------------------------------------------------------------
# 2. Single scan against one query per check


def measure_single_vs_per_check(bench: Bench, runs: int) -> dict[str, Any]:
    from akko_orchestrator.quality.checks import one_query_per_check

    contenders = {}
    checked = {}
    for name in (ORDERS, ORDERS_RG):
        single, per_check = bench.aggregate(name), bench.per_check(name)
        checked[name] = same_metrics(single(), per_check())  # also the warm-up
        contenders[f"single {name}"] = single
        contenders[f"per_check {name}"] = per_check
    samples = Samples()
    for rep in range(runs):
        for label in alternating(rep, list(contenders)):
            samples.time(label, contenders[label])
    result: dict[str, Any] = {
        "runs": runs,
        "statements": {
            "single": bench.plan(ORDERS).aggregate_sql,
            "per_check": one_query_per_check(bench.plan(ORDERS)),
        },
    }
    for name in (ORDERS, ORDERS_RG):
        result[name] = {
            "single": samples.summary(f"single {name}"),
            "per_check": samples.summary(f"per_check {name}"),
            "per_check_over_single": samples.ratio(f"per_check {name}", f"single {name}"),
            "metrics_checked": checked[name],
        }
    speedup = result[ORDERS]["per_check_over_single"]["ratio"]
    result["speedup"] = speedup
    result["meets_goal"] = speedup >= GOAL_SPEEDUP
    return result


# ---------------------------------------------------------------------------------------------------------------
# 3. Where the time goes


def measure_breakdown(bench: Bench, runs: int) -> dict[str, Any]:
    """Each part of the checks and of the write timed alone, interleaved (medians, seconds)."""
    import pyarrow.parquet as pq

    from akko_orchestrator.engines.duckdb_engine import to_duckdb_sql, trino_type

    name = ORDERS
    versions = {name: bench.snapshots[name]}
    kinds = {"unique", "relationships"}
    without = {kind: [c for c in bench.checks if c.kind != kind] for kind in kinds}
    alone = {kind: [c for c in bench.checks if c.kind == kind] for kind in kinds}
    # every value of every column decoded (counts could be answered from the Parquet statistics)
    decode = (
        "SELECT sum(id) AS id, sum(customer_id) AS customer_id, sum(length(region)) AS region, "
        "sum(amount) AS amount, sum(quantity) AS quantity, sum(to_unixtime(ordered_at)) AS ordered_at, "
        f"sum(length(status)) AS status FROM {name}"
    )
    aggregate = bench.plan(name)
    reads = reads_of(aggregate)
    schemas = {
        table_name: {
            field.name: trino_type(field.field_type)
            for field in bench.catalog.load_table(table_name).schema().fields
        }
        for table_name in reads
    }
    translated = to_duckdb_sql(aggregate.aggregate_sql, schemas)
    con = bench.engine.con
    (threads,) = con.sql("SELECT current_setting('threads')").fetchone()
    parquet = Path(tempfile.mkdtemp(prefix="akko-bench-checks-pq-")) / "orders.parquet"

    def duckdb_only() -> float:
        # the views of `reads` pinned to the snapshot (an engine.query registers them), then the translated SQL
        bench.engine.query(f"SELECT count(*) AS n FROM {name}", reads, versions=versions)
        started = time.perf_counter()
        con.sql(translated).to_arrow_table()
        return time.perf_counter() - started

    def one_thread(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            con.execute("SET threads = 1")
            try:
                return call()
            finally:
                con.execute(f"SET threads = {threads}")

        return run

    contenders: dict[str, Callable[[], Any]] = {
        f"8 checks, one statement (engine.query; DuckDB threads={threads})": bench.aggregate(name),
        "  the same, DuckDB threads=1": one_thread(bench.aggregate(name)),
        f"  the same on {ORDERS_RG} ({bench.row_group_rows:,}-row groups)": bench.aggregate(ORDERS_RG),
        f"  the same on {ORDERS_RG}, DuckDB threads=1": one_thread(bench.aggregate(ORDERS_RG)),
        "  its DuckDB SQL run on DuckDB directly (no AKKO per-query cost)": duckdb_only,
        "  without unique (no count(DISTINCT))": bench.aggregate(name, without["unique"]),
        "  without relationships (no LEFT JOIN)": bench.aggregate(name, without["relationships"]),
        "unique alone: count(DISTINCT id)": bench.aggregate(name, alone["unique"]),
        "relationships alone: the LEFT JOIN, 1 column": bench.aggregate(name, alone["relationships"]),
        "decode the 7 columns (a sum of each)": lambda: bench.engine.query(decode, [name], versions=versions),
        "fixed cost of a query (count(*), from metadata)": lambda: bench.engine.query(
            f"SELECT count(*) AS n FROM {name}", [name], versions=versions
        ),
        "write: Parquet encoding alone (pyarrow, zstd, 1 file)": lambda: pq.write_table(
            bench.data,
            parquet,
            compression="zstd",  # pyiceberg's defaults
            row_group_size=1_048_576,
            data_page_size=1024 * 1024,
            dictionary_pagesize_limit=2 * 1024 * 1024,
        ),
    }
    samples = Samples()
    inner: list[float] = []
    try:
        for rep in range(-1, runs):
            for label in alternating(rep, list(contenders)):
                if rep < 0:
                    contenders[label]()
                elif contenders[label] is duckdb_only:
                    inner.append(duckdb_only())  # without the query that registers the views
                else:
                    samples.time(label, contenders[label])
    finally:
        shutil.rmtree(parquet.parent, ignore_errors=True)
    parts = {label: samples.summary(label) for label in contenders if label in samples.wall}
    parts[next(label for label, call in contenders.items() if call is duckdb_only)] = {
        "median_s": round(median(inner), 4),
        "range_s": spread(inner),
        "min_s": round(min(inner), 4),
        "samples_s": [round(v, 4) for v in inner],
    }
    return {
        "runs": runs,
        "table": name,
        "seconds": {label: parts[label]["median_s"] for label in contenders},
        "minima_s": {label: parts[label]["min_s"] for label in contenders},
        "cpu_s": {label: parts[label].get("cpu_median_s") for label in contenders},
        "parts": parts,
        "duckdb_sql": translated,
        "duckdb_threads": threads,
    }


# ---------------------------------------------------------------------------------------------------------------


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": len(git("status", "--porcelain").splitlines())}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, str]:
    import duckdb
    import pyarrow
    import pyiceberg

    return {"duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__, "pyiceberg": pyiceberg.__version__}


@contextlib.contextmanager
def project(keep: bool) -> Iterator[Path]:
    """A throwaway project: the repo's akko.yaml, its state folder (catalog, warehouse) inside."""
    tmp = Path(tempfile.mkdtemp(prefix="akko-bench-checks-"))
    try:
        root = tmp / "project"
        root.mkdir()
        shutil.copy(REPO / "akko.yaml", root / "akko.yaml")
        apply_env(
            isolated_env(tmp / "airflow-home", AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(tmp / "state"))
        )
        yield root
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(
    runs: int = 9,
    rows: int = ROWS,
    only: tuple[str, ...] = ("write", "wap", "scan", "breakdown"),
    json_path: str | None = None,
    keep: bool = False,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> dict[str, Any]:
    """Measure, write the JSON file; returns every figure."""
    result: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git": git_state(),
        "settings": {
            "runs": runs,
            "rows": rows,
            "row_group_rows_variant": row_group_rows,
            "goal_checks_over_write_max": GOAL_CHECKS_OVER_WRITE,
            "goal_speedup_min": GOAL_SPEEDUP,
        },
    }
    # pyiceberg warns when an overwrite replaces nothing (write_arrow's first write to a new table's branch)
    warnings.filterwarnings("ignore", "Delete operation did not match any records")
    with project(keep) as root:
        result["versions"] = versions()
        bench = Bench(root, rows, row_group_rows)
        try:
            result["data"] = {
                "rows": rows,
                "columns": {f.name: str(f.type) for f in bench.data.schema},
                "arrow_bytes": bench.data.nbytes,
                "generate_s": bench.generate_s,
                "anchor": bench.anchor.isoformat(),
                "dimension": {"table": DIMENSION, "rows": CUSTOMERS},
                "checks": [c.model_dump(exclude_none=True, exclude_defaults=True) for c in bench.checks],
            }
            result["engine_open_s"] = bench.engine_open_s
            result["first_write_s"] = bench.setup()
            if "write" in only:
                print("checks against the write...", file=sys.stderr, flush=True)
                result["write"] = measure_write_vs_checks(bench, runs)
            if "wap" in only:
                print("write_arrow with and without checks...", file=sys.stderr, flush=True)
                result["wap"] = measure_write_arrow(bench, runs)
            if "scan" in only:
                print("single scan against one query per check...", file=sys.stderr, flush=True)
                result["scan"] = measure_single_vs_per_check(bench, runs)
            if "breakdown" in only:
                print("where the time goes...", file=sys.stderr, flush=True)
                result["breakdown"] = measure_breakdown(bench, max(5, runs // 2 + 1))
        finally:
            bench.close()
    result["machine"]["loadavg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    goals = [result[part]["meets_goal"] for part in ("write", "scan") if part in result]
    result["meets_goal"] = all(goals) if goals else None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(json_path) if json_path else RESULTS / f"checks-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def report(result: dict[str, Any]) -> str:
    rows = result["settings"]["rows"]
    lines = [
        f"Quality checks, embedded profile ({result['machine']['cpus']} CPUs, load "
        f"{result['machine']['loadavg_1_5_15']} -> {result['machine'].get('loadavg_1_5_15_end')}); "
        f"{rows:,} rows, 8 checks; medians of {result['settings']['runs']} interleaved runs (seconds)"
    ]

    def ratio_cells(r: dict[str, Any]) -> list[Any]:
        return [r["ratio"], r["ratio_pairs_median"], r["ratio_of_minima"], r["ratio_cpu"]]

    write = result.get("write")
    if write:
        table_rows = []
        for name in (ORDERS, ORDERS_RG):
            part = write[name]
            files = part["files"]
            table_rows.append(
                [
                    f"{name} ({files['row_groups']} row group(s), {files['bytes'] / 1e6:.1f} MB)",
                    part["write"]["median_s"],
                    part["checks"]["median_s"],
                    *ratio_cells(part["checks_over_write"]),
                ]
            )
        verdict = "meets" if write["meets_goal"] else "MISSES"
        groups = result["settings"]["row_group_rows_variant"]
        checks_x = write["row_groups_speedup"]["checks"]["ratio"]
        write_x = round(1 / write["row_groups_speedup"]["write"]["ratio"], 3)
        lines += [
            "",
            "1. Checks (run_checks) against the write they guard (write_table, overwrite)",
            table(
                ["table", "write s", "checks s", "checks/write", "pairs", "minima", "cpu"],
                table_rows,
            ),
            f"checks/write on {ORDERS}: {write['checks_over_write']}; goal < {GOAL_CHECKS_OVER_WRITE}: "
            f"{verdict}. With row groups of {groups:,} rows ({ORDERS_RG}): checks {checks_x}x as fast, "
            f"write {write_x}x the time.",
        ]
    wap = result.get("wap")
    if wap:
        lines += [
            "",
            "End to end: write_arrow with the 8 checks (branch, checks, history, publish) / without checks",
            table(
                ["", "median s", "range"],
                [
                    ["with checks", wap["checked"]["median_s"], wap["checked"]["range_s"]],
                    ["without checks", wap["plain"]["median_s"], wap["plain"]["range_s"]],
                ],
            ),
            f"ratio {wap['checked_over_plain']['ratio']} (pairs {wap['checked_over_plain']['ratio_pairs_median']}, "
            f"minima {wap['checked_over_plain']['ratio_of_minima']}, cpu {wap['checked_over_plain']['ratio_cpu']});"
            f" overhead {wap['overhead_s']} s. Phases of one call with checks (median of "
            f"{wap['phases']['calls']}, total {wap['phases']['total_s']} s):",
            table(["phase", "s"], [[k, v] for k, v in wap["phases"]["seconds"].items()]),
        ]
    scan = result.get("scan")
    if scan:
        table_rows = []
        for name in (ORDERS, ORDERS_RG):
            part = scan[name]
            table_rows.append(
                [
                    name,
                    part["single"]["median_s"],
                    part["per_check"]["median_s"],
                    *ratio_cells(part["per_check_over_single"]),
                ]
            )
        verdict = "meets" if scan["meets_goal"] else "MISSES"
        lines += [
            "",
            "2. One aggregate statement against one query per check (8 statements), same engine and snapshot",
            table(["table", "single s", "per check s", "per/single", "pairs", "minima", "cpu"], table_rows),
            f"speed-up on {ORDERS}: {scan['speedup']}x; goal >= {GOAL_SPEEDUP}x: {verdict}",
        ]
    breakdown = result.get("breakdown")
    if breakdown:
        lines += [
            "",
            f"3. Where the time goes ({breakdown['table']} unless named; medians of {breakdown['runs']} "
            "interleaved runs)",
            table(
                ["part", "median s", "min s", "cpu s"],
                [
                    [k, v, breakdown["minima_s"][k], breakdown["cpu_s"][k] or ""]
                    for k, v in breakdown["seconds"].items()
                ],
            ),
        ]
    lines.append(f"\nfigures: {result.get('json_file')}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="interleaved repetitions (>= 5)")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=ROW_GROUP_ROWS,
        help=f"write.parquet.row-group-limit of {ORDERS_RG} (default {ROW_GROUP_ROWS:,})",
    )
    parser.add_argument("--only", default="write,wap,scan,breakdown", help="comma-separated parts")
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/checks-*.json)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary project folder")
    args = parser.parse_args()
    only = tuple(part.strip() for part in args.only.split(",") if part.strip())
    if args.runs < 1:
        parser.error("--runs must be at least 1 (5 or more for meaningful medians)")
    print(report(measure(args.runs, args.rows, only, args.json, args.keep, args.row_group_rows)))


if __name__ == "__main__":
    main()
