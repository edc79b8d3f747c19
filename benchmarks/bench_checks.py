"""Data-quality checks: what a write's checks cost against the write they guard, and AKKO's way of running them
(Iceberg metadata first, then one aggregate statement for the rest) against one query per check; on the embedded
profile (pyiceberg SQL catalog on SQLite + DuckDB) and, with `--cluster`, on Trino (the `cluster` profile).

Everything runs in this process, in a throwaway project (the repo's akko.yaml, its own state folder); the catalog
and the SQL engine of a `StepContext` stay open throughout, as within one task.

Data, generated deterministically (numpy, fixed seed): `bench.orders`, 1,000,000 rows (`--rows`): id (int64,
unique, shuffled), customer_id (1..10,000), region (5 values), amount (double), quantity (int32), ordered_at
(timestamptz, up to 30 days before the start of the current UTC hour, so the freshness check passes), status
(6 values); and the dimension `bench.customers` (10,000 ids). Eight checks, all passing: not_null [id,
customer_id], unique id, accepted_values status, range amount, row_count (min 1, max_shrink 10%), freshness
ordered_at (2d), expression, relationships customer_id -> bench.customers.id.

1. `write`: checks against the write and against one query per check. Each repetition writes the table
   (`lakehouse.writer.write_table`, overwrite, pyiceberg), then times on that snapshot, in alternating order:
   - AKKO = what production runs (`runtime/publish.py` `audit`): `quality.runner.run_checks(..., catalog=...)`:
     the checks the snapshot's manifests settle (row_count, not_null, range, freshness) answered from Iceberg
     metadata, one aggregate statement for the rest;
   - the baseline: every statement of `one_query_per_check(compile_checks(table, checks))`, run in turn, pinned
     to the same snapshot, each given the tables it reads (what check-per-query tools do);
   - the breakdown: the metadata part alone (`snapshot_stats` + judging), the statement part alone (the aggregate
     of the checks metadata left), the single aggregate statement of all 8 checks without metadata, and
     `run_checks` without a catalog (the runner before metadata answers).
   Goals: AKKO / write < 0.30; one query per check / AKKO >= 3. The same on `bench.orders_rg`, identical but for
   the table property write.parquet.row-group-limit = 131,072 rows (`--row-group-rows`; pyiceberg's default,
   1,048,576, makes 1M rows one Parquet row group, which DuckDB scans on one thread); the two tables alternate.
   Before timing, the single statement and the 8 statements must give the same metrics.
2. `wap`: end to end, `runtime.publish.write_arrow` with the eight checks (audit branch commit, checks, history
   record, publish) against `write_arrow` without checks (one commit on main), alternating, a new run id per
   call; and the time spent in each function a checked call makes (a separate pass).
3. `breakdown` (informational): the aggregate with DuckDB threads=1 (on both tables), run on DuckDB directly (its
   translated SQL), without its count(DISTINCT), without its join; the statement left after metadata, with and
   without unique; count(DISTINCT id) alone; the relationships join alone; every column decoded; AKKO's fixed cost
   per query; the write's Parquet encoding alone (pyarrow, pyiceberg's settings).
4. `trino` (`--cluster`): part 1 on Trino 476 of `akko stack` (bench.orders only): the tables written with
   pyiceberg into the shared catalog (JDBC catalog on PostgreSQL, the stack's warehouse folder), the checks run by
   a `StepContext` of the `cluster` profile (TrinoEngine: HTTPS + password, through the Airflow provider's hook),
   plus Trino's fixed cost per query (`SELECT 1`), `unique` alone and the statement after metadata without
   `unique`. It starts the stack in a throwaway state folder and stops it at the end
   (tests/fixtures/stack_services.running_stack, as bench_cluster.py), or with `--state-dir DIR` uses the stack
   `akko stack up` runs for DIR (and leaves bench.orders and bench.customers in its catalog).

Medians of `--runs` interleaved repetitions after a warm-up (four on Trino: its JIT); ratios are within this run
(the machine is shared and noisy). As noise checks: the median of the per-repetition ratios, the ratio of the
fastest runs, and (embedded) process CPU time (every thread: DuckDB's and pyarrow's too; on Trino the server's
CPU is another process's). Figures, samples, the machine's load and the git commit go to
benchmarks/results/checks-<UTC time>.json (`--json FILE` elsewhere).

Run: `uv run python benchmarks/bench_checks.py [--runs 9] [--rows 1000000] [--row-group-rows 131072]
[--only write,wap,breakdown] [--cluster [--state-dir DIR]]`, or `uv run python benchmarks/run_all.py --only checks`
(`--cluster` adds the Trino part).
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
GOAL_CHECKS_OVER_WRITE = 0.30  # AKKO's checks < 30% of the write they guard
GOAL_SPEEDUP = 3.0  # one query per check / AKKO's checks >= 3
ROWS = 1_000_000
CUSTOMERS = 10_000
SEED = 20261124
ROW_GROUP_ROWS = 131_072  # the row-group variant's write.parquet.row-group-limit (--row-group-rows)
ORDERS = "bench.orders"  # pyiceberg's default row groups (1,048,576 rows)
ORDERS_RG = "bench.orders_rg"  # row groups of --row-group-rows
DIMENSION = "bench.customers"
WAP_TABLES = ("bench.orders_wap", "bench.orders_plain")  # write_arrow with checks / without
PIPELINE = "bench_checks"
PARTS = ("write", "wap", "breakdown")  # the embedded parts; "trino" with --cluster
TRINO_WARMUPS = 4  # Trino's JIT: its first repetitions are slower (steady from about the 5th)
# The contenders of part 1, timed on each new snapshot (labels in the report).
OURS = "ours"
BASELINE = "per_check"
CONTENDERS = {
    OURS: "AKKO: run_checks with the catalog (metadata + 1 statement)",
    BASELINE: "one query per check (8 statements, in turn)",
    "metadata": "  metadata part alone (snapshot_stats + judging)",
    "statement": "  statement part alone (the checks metadata left)",
    "single": "single statement of all 8 checks, no metadata",
    "no_catalog": "run_checks without catalog (1 statement, 8 checks)",
}
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
# The bench: one project, one catalog, one SQL engine


class Bench:
    def __init__(
        self, project_dir: Path, rows: int, row_group_rows: int = ROW_GROUP_ROWS, profile: str = "local"
    ):
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.runtime.context import StepContext

        self.project = load_project(project_dir, profile=profile)
        self.profile = profile
        self.rows = rows
        self.row_group_rows = row_group_rows
        self.ctx = StepContext(self.project, pipeline_id=PIPELINE, step_id="orders", run_id="bench")
        self.catalog = self.ctx.catalog
        started = time.perf_counter()
        self.engine = self.ctx.sql_engine
        self.engine.query("SELECT 1 AS one", [])  # the connection (and DuckDB's extensions) open lazily
        self.engine_open_s = round(time.perf_counter() - started, 3)
        self.anchor = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        self.data = make_orders(rows, self.anchor)
        self.generate_s = round(time.perf_counter() - started, 3)
        self.checks = make_checks()
        self.snapshots: dict[str, int] = {}
        self._answered: dict[str, frozenset[int]] = {}

    def write(self, name: str) -> int:
        from akko_orchestrator.lakehouse.writer import write_table
        from akko_orchestrator.spec.models import Output

        written = write_table(
            self.catalog, Output(table=name, mode="overwrite"), self.data, self.ctx.snapshot_properties
        )
        assert written.rows == self.rows and written.snapshot_id is not None, written
        self.snapshots[name] = written.snapshot_id
        return written.snapshot_id

    def pinned(self, name: str) -> dict[str, int]:
        """The table's last written snapshot (looked up at call time: each repetition writes a new one)."""
        return {name: self.snapshots[name]}

    def run_checks(self, name: str, with_catalog: bool = True) -> Any:
        """AKKO's checks as production runs them (with the catalog: metadata first), or without the catalog."""
        from akko_orchestrator.quality.runner import run_checks

        report = run_checks(
            self.engine,
            name,
            self.checks,
            self.snapshots[name],
            previous_rows=self.rows,
            catalog=self.catalog if with_catalog else None,
        )
        if not report.passed or len(report.results) != len(self.checks):
            raise RuntimeError(f"the benchmark's checks must all pass:\n{report.text(samples=True)}")
        return report

    def metadata(self, name: str) -> dict[int, Any]:
        """The metadata part of `run_checks` alone: the snapshot's statistics read from its manifests, and the
        checks they settle judged (the runner's own functions)."""
        from akko_orchestrator.quality.metadata import snapshot_stats
        from akko_orchestrator.quality.runner import _from_metadata

        stats = snapshot_stats(self.catalog, name, self.snapshots[name])
        answered = _from_metadata(self.checks, stats, self.rows, dt.datetime.now(dt.UTC))
        if not all(result.passed for result in answered.values()):
            raise RuntimeError(f"a check answered from metadata fails: {answered}")
        return answered

    def answered(self, name: str) -> frozenset[int]:
        """Indexes of the checks the table's metadata settles (the same on every snapshot of the same rows)."""
        if name not in self._answered:
            self._answered[name] = frozenset(self.metadata(name))
        return self._answered[name]

    def plan(self, name: str, checks: list[Any] | None = None, answered: frozenset[int] = frozenset()) -> Any:
        from akko_orchestrator.quality.checks import compile_checks

        return compile_checks(name, self.checks if checks is None else checks, answered)

    def aggregate(
        self, name: str, checks: list[Any] | None = None, answered: frozenset[int] = frozenset()
    ) -> Callable[[], Any]:
        """One aggregate statement of `checks` (default: all 8), less the `answered` ones, on the last snapshot."""
        plan = self.plan(name, checks, answered)
        assert plan.aggregate_sql is not None, plan
        reads = reads_of(plan, answered=answered)
        # as run_checks runs it: through query_aggregates (on Trino, a mark-distinct plan; on DuckDB, query)
        return lambda: self.engine.query_aggregates(plan.aggregate_sql, reads, versions=self.pinned(name))

    def statement(self, name: str) -> Callable[[], Any]:
        """The statement part of `run_checks` with the catalog: the aggregate of the checks metadata left."""
        return self.aggregate(name, answered=self.answered(name))

    def per_check(self, name: str) -> Callable[[], list[Any]]:
        """The baseline: every statement of `one_query_per_check` for the 8 checks, in turn, on the last snapshot."""
        from akko_orchestrator.quality.checks import one_query_per_check

        plan = self.plan(name)
        statements = one_query_per_check(plan)
        reads = [reads_of(plan, compiled) for compiled in plan.checks]
        return lambda: [
            self.engine.query(sql, tables, versions=self.pinned(name))
            for sql, tables in zip(statements, reads, strict=True)
        ]

    def contenders(self, name: str) -> dict[str, Callable[[], Any]]:
        """Part 1's contenders on table `name` (keys of CONTENDERS)."""
        return {
            OURS: lambda: self.run_checks(name),
            BASELINE: self.per_check(name),
            "metadata": lambda: self.metadata(name),
            "statement": self.statement(name),
            "single": self.aggregate(name),
            "no_catalog": lambda: self.run_checks(name, with_catalog=False),
        }

    def setup(self, tables: tuple[str, ...] = (ORDERS, ORDERS_RG)) -> dict[str, Any]:
        """The dimension, then each table written once (timed apart: the first write may create the table)."""
        from akko_orchestrator.lakehouse.writer import write_table
        from akko_orchestrator.spec.models import Output

        write_table(self.catalog, Output(table=DIMENSION, mode="overwrite"), make_customers())
        first = {}
        for name in tables:
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

    def close(self) -> None:
        self.ctx.close()
        engine = getattr(self.catalog, "engine", None)
        if engine is not None:
            engine.dispose()


def reads_of(plan: Any, compiled: Any = None, answered: frozenset[int] = frozenset()) -> list[str]:
    """The tables a statement reads: the checked table, plus the other table of relationships checks (those
    in the statement: not `answered`)."""
    checks = (
        [c for index, c in enumerate(plan.checks) if index not in answered]
        if compiled is None
        else [compiled]
    )
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
# 1. AKKO's checks against the write, and against one query per check


def measure_checks(
    bench: Bench,
    runs: int,
    tables: tuple[str, ...] = (ORDERS, ORDERS_RG),
    warmups: int = 1,
    extra: dict[str, Callable[[str], Callable[[], Any]]] | None = None,
) -> dict[str, Any]:
    """Each repetition, per table (alternating): write, then every contender on the new snapshot, in an order
    alternating between repetitions. `extra`: more contenders (label -> factory taking the table name)."""
    from akko_orchestrator.quality.checks import one_query_per_check

    extra = extra or {}
    contenders = {
        name: {**bench.contenders(name), **{k: f(name) for k, f in extra.items()}} for name in tables
    }
    checked = {}
    for name in tables:  # the single statement and the 8 statements agree (on the setup's snapshot)
        checked[name] = same_metrics(contenders[name]["single"](), contenders[name][BASELINE]())
    samples = Samples()
    for rep in range(-warmups, runs):  # rep < 0: warm-ups, not recorded
        for name in alternating(rep, list(tables)):
            if rep < 0:
                bench.write(name)
                for call in contenders[name].values():
                    call()
                continue
            samples.time(f"write {name}", lambda name=name: bench.write(name))
            for label in alternating(rep, list(contenders[name])):
                samples.time(f"{label} {name}", contenders[name][label])
    result: dict[str, Any] = {"runs": runs, "warmups": warmups, "engine": bench.profile}
    for name in tables:
        answered = bench.answered(name)
        part: dict[str, Any] = {
            "write": samples.summary(f"write {name}"),
            **{label: samples.summary(f"{label} {name}") for label in contenders[name]},
        }
        part["ratios"] = {
            "ours_over_write": samples.ratio(f"{OURS} {name}", f"write {name}"),
            "per_check_over_ours": samples.ratio(f"{BASELINE} {name}", f"{OURS} {name}"),
            "per_check_over_single": samples.ratio(f"{BASELINE} {name}", f"single {name}"),
            "single_over_write": samples.ratio(f"single {name}", f"write {name}"),
            "no_catalog_over_ours": samples.ratio(f"no_catalog {name}", f"{OURS} {name}"),
            "statement_over_write": samples.ratio(f"statement {name}", f"write {name}"),
        }
        part["answered_by_metadata"] = [bench.checks[i].kind for i in sorted(answered)]
        part["in_statement"] = [c.kind for i, c in enumerate(bench.checks) if i not in answered]
        part["metrics_checked"] = checked[name]
        part["files"] = bench.files(name)
        result[name] = part
    main = result[tables[0]]["ratios"]
    result["statements"] = {
        "ours": bench.plan(tables[0], answered=bench.answered(tables[0])).aggregate_sql,
        "single": bench.plan(tables[0]).aggregate_sql,
        "per_check": one_query_per_check(bench.plan(tables[0])),
    }
    result["checks_over_write"] = main["ours_over_write"]["ratio"]
    result["speedup"] = main["per_check_over_ours"]["ratio"]
    result["meets_goal_write"] = result["checks_over_write"] < GOAL_CHECKS_OVER_WRITE
    result["meets_goal_speedup"] = result["speedup"] >= GOAL_SPEEDUP
    result["meets_goal"] = result["meets_goal_write"] and result["meets_goal_speedup"]
    if ORDERS_RG in tables and ORDERS in tables:
        result["row_groups_speedup"] = {
            "checks": samples.ratio(f"{OURS} {ORDERS}", f"{OURS} {ORDERS_RG}"),
            "write": samples.ratio(f"write {ORDERS}", f"write {ORDERS_RG}"),
        }
    return result


# ---------------------------------------------------------------------------------------------------------------
# 2. write_arrow with and without checks


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
    timed runs: the functions are wrapped to time them); `rest` is each call's total minus its phases. Nested
    phases (inside `run_checks`) are shown indented and not subtracted again."""
    from unittest import mock

    from akko_orchestrator.lakehouse import writer
    from akko_orchestrator.quality import history, runner
    from akko_orchestrator.runtime import publish

    targets = [
        ("exactly-once lookup (already_published)", publish, "already_published"),
        ("write to the audit branch (write_table)", writer, "write_table"),
        ("rows before the write (_rows_at)", publish, "_rows_at"),
        ("checks (run_checks)", runner, "run_checks"),
        ("  of which metadata (snapshot_stats)", runner, "snapshot_stats"),
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
            outer = sum(v for k, v in current.items() if not k.startswith(" "))
            per_call.append({**current, rest: total - outer, "total": total})
    labels = [label for label, _, _ in targets] + [rest]
    seconds = {label: round(median([call.get(label, 0.0) for call in per_call]), 4) for label in labels}
    return {
        "calls": calls,
        "total_s": round(median([call["total"] for call in per_call]), 4),
        "seconds": seconds,
        "samples_s": [{k: round(v, 4) for k, v in call.items()} for call in per_call],
    }


# ---------------------------------------------------------------------------------------------------------------
# 3. Where the time goes


def measure_breakdown(bench: Bench, runs: int) -> dict[str, Any]:
    """Each part of the checks and of the write timed alone, interleaved (medians, seconds)."""
    import pyarrow.parquet as pq

    from akko_orchestrator.engines.duckdb.engine import to_duckdb_sql, trino_type

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

    left = [c for index, c in enumerate(bench.checks) if index not in bench.answered(name)]
    contenders: dict[str, Callable[[], Any]] = {
        f"8 checks, one statement (engine.query; DuckDB threads={threads})": bench.aggregate(name),
        "  the same, DuckDB threads=1": one_thread(bench.aggregate(name)),
        f"  the same on {ORDERS_RG} ({bench.row_group_rows:,}-row groups)": bench.aggregate(ORDERS_RG),
        f"  the same on {ORDERS_RG}, DuckDB threads=1": one_thread(bench.aggregate(ORDERS_RG)),
        "  its DuckDB SQL run on DuckDB directly (no AKKO per-query cost)": duckdb_only,
        "  without unique (no count(DISTINCT))": bench.aggregate(name, without["unique"]),
        "  without relationships (no LEFT JOIN)": bench.aggregate(name, without["relationships"]),
        f"after metadata: the statement ({', '.join(c.kind for c in left)})": bench.statement(name),
        "  the same without unique": bench.aggregate(name, [c for c in left if c.kind != "unique"]),
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
# 4. On Trino (the cluster profile on `akko stack`)


def measure_trino(root: Path, runs: int, rows: int, state_dir: str | None) -> dict[str, Any]:
    """Part 1 on Trino: bench.orders and bench.customers written with pyiceberg into the stack's shared catalog,
    the checks run through a `StepContext` of the `cluster` profile. Starts the stack (and stops it) unless
    `state_dir` names the state folder of one `akko stack up` runs."""
    from bench_cluster import environment, stack

    project_dir = root.parent / "cluster-project"
    project_dir.mkdir(exist_ok=True)
    shutil.copy(REPO / "akko.yaml", project_dir / "akko.yaml")
    print(
        "trino: starting akko stack..." if state_dir is None else "trino: using the running stack...",
        file=sys.stderr,
        flush=True,
    )
    with stack(Path(state_dir) if state_dir else None) as running:
        # the env file's variables, as load_project sets them for the cluster profile (set here, so a stack of
        # the caller's environment can never be the one reached)
        with environment({**running.env, "AKKO_STATE_DIR": str(running.state_dir)}):
            bench = Bench(project_dir, rows, profile="cluster")
            try:
                first_write = bench.setup((ORDERS,))
                print(
                    "trino: checks against the write and one query per check...", file=sys.stderr, flush=True
                )
                result = measure_checks(
                    bench,
                    runs,
                    (ORDERS,),
                    warmups=TRINO_WARMUPS,
                    extra=trino_extras(bench),
                )
                result["engine_open_s"] = bench.engine_open_s
                result["first_write_s"] = first_write
                result["trino_version"] = bench.engine.query("SELECT version() AS v", []).column(0)[0].as_py()
            finally:
                bench.close()
        result["stack"] = {
            "started_here": running.started_here,
            "startup_s": running.startup_s,
            "trino": running.env.get("AKKO_TRINO_URL"),
        }
    return result


# Part 1's extra contenders on Trino: its fixed cost per query, and what the statement's time is made of.
TRINO_EXTRAS = {
    "select1": "Trino fixed cost of a query (SELECT 1, through TrinoEngine)",
    "count": "  a query of the table: count(*), pinned",
    "unique_alone": "unique alone: count(DISTINCT id)",
    "statement_no_unique": "statement part without unique",
}


def trino_extras(bench: Bench) -> dict[str, Callable[[str], Callable[[], Any]]]:
    unique = [c for c in bench.checks if c.kind == "unique"]

    def without_unique(name: str) -> Callable[[], Any]:
        left = [c for i, c in enumerate(bench.checks) if i not in bench.answered(name) and c.kind != "unique"]
        return bench.aggregate(name, left)

    return {
        "select1": lambda name: lambda: bench.engine.query("SELECT 1 AS one", []),
        "count": lambda name: (
            lambda: bench.engine.query(
                f"SELECT count(*) AS n FROM {name}", [name], versions=bench.pinned(name)
            )
        ),
        "unique_alone": lambda name: bench.aggregate(name, unique),
        "statement_no_unique": without_unique,
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
    only: tuple[str, ...] = PARTS,
    json_path: str | None = None,
    keep: bool = False,
    row_group_rows: int = ROW_GROUP_ROWS,
    cluster: bool = False,
    state_dir: str | None = None,
) -> dict[str, Any]:
    """Measure, write the JSON file; returns every figure. `cluster` (or "trino" in `only`) adds the Trino part,
    on the stack of `state_dir` or on one started (and stopped) here."""
    if cluster and "trino" not in only:
        only = (*only, "trino")
    unknown = sorted(set(only) - {*PARTS, "trino"})
    if unknown:
        raise ValueError(f"unknown part(s): {', '.join(unknown)} (parts: {', '.join((*PARTS, 'trino'))})")
    result: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git": git_state(),
        "settings": {
            "runs": runs,
            "rows": rows,
            "parts": list(only),
            "row_group_rows_variant": row_group_rows,
            "goal_checks_over_write_max": GOAL_CHECKS_OVER_WRITE,
            "goal_speedup_min": GOAL_SPEEDUP,
            "contenders": {**CONTENDERS, **TRINO_EXTRAS},
        },
    }
    # pyiceberg warns when an overwrite replaces nothing (write_arrow's first write to a new table's branch)
    warnings.filterwarnings("ignore", "Delete operation did not match any records")
    with project(keep) as root:
        result["versions"] = versions()
        result["checks"] = [c.model_dump(exclude_none=True, exclude_defaults=True) for c in make_checks()]
        if any(part in only for part in PARTS):
            bench = Bench(root, rows, row_group_rows)
            try:
                result["data"] = {
                    "rows": rows,
                    "columns": {f.name: str(f.type) for f in bench.data.schema},
                    "arrow_bytes": bench.data.nbytes,
                    "generate_s": bench.generate_s,
                    "anchor": bench.anchor.isoformat(),
                    "dimension": {"table": DIMENSION, "rows": CUSTOMERS},
                }
                result["engine_open_s"] = bench.engine_open_s
                result["first_write_s"] = bench.setup()
                if "write" in only:
                    print("checks against the write and one query per check...", file=sys.stderr, flush=True)
                    result["write"] = measure_checks(bench, runs)
                if "wap" in only:
                    print("write_arrow with and without checks...", file=sys.stderr, flush=True)
                    result["wap"] = measure_write_arrow(bench, runs)
                if "breakdown" in only:
                    print("where the time goes...", file=sys.stderr, flush=True)
                    result["breakdown"] = measure_breakdown(bench, max(5, runs // 2 + 1))
            finally:
                bench.close()
        if "trino" in only:
            result["trino"] = measure_trino(root, runs, rows, state_dir)
    result["machine"]["loadavg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    goals = [result[part]["meets_goal"] for part in ("write", "trino") if part in result]
    result["meets_goal"] = all(goals) if goals else None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(json_path) if json_path else RESULTS / f"checks-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def checks_table(part: dict[str, Any], labels: dict[str, str], cpu: bool = True) -> str:
    """Part 1's figures for one table: each contender's median, and its ratio to the write and to AKKO's."""
    write, ours = part["write"]["median_s"], part[OURS]["median_s"]
    rows = [["write_table, overwrite (pyiceberg)", write, part["write"]["range_s"], "1", ""]]
    for key, label in labels.items():
        if key not in part:
            continue
        median_s = part[key]["median_s"]
        rows.append(
            [label, median_s, part[key]["range_s"], f"{median_s / write:.3f}", f"{median_s / ours:.2f}"]
        )
        if cpu:
            rows[-1].append(part[key]["cpu_median_s"])
    if cpu:
        rows[0].append(part["write"]["cpu_median_s"])
    headers = ["", "median s", "range", "/ write", "/ AKKO"] + (["cpu s"] if cpu else [])
    return table(headers, rows)


def goal_lines(part: dict[str, Any], result: dict[str, Any], name: str) -> list[str]:
    ours, speed = part["ratios"]["ours_over_write"], part["ratios"]["per_check_over_ours"]
    verdict_write = "meets" if result["meets_goal_write"] else "MISSES"
    verdict_speed = "meets" if result["meets_goal_speedup"] else "MISSES"
    return [
        f"{name}: AKKO / write = {ours['ratio']} (pairs {ours['ratio_pairs_median']}, minima "
        f"{ours['ratio_of_minima']}); goal < {GOAL_CHECKS_OVER_WRITE}: {verdict_write}",
        f"{name}: one query per check / AKKO = {speed['ratio']} (pairs {speed['ratio_pairs_median']}, minima "
        f"{speed['ratio_of_minima']}); goal >= {GOAL_SPEEDUP}: {verdict_speed}",
        f"answered from metadata: {', '.join(part['answered_by_metadata'])}; in the statement: "
        f"{', '.join(part['in_statement'])}",
    ]


def report(result: dict[str, Any]) -> str:
    rows = result["settings"]["rows"]
    lines = [
        f"Quality checks ({result['machine']['cpus']} CPUs, load {result['machine']['loadavg_1_5_15']} -> "
        f"{result['machine'].get('loadavg_1_5_15_end')}); {rows:,} rows, 8 checks; medians of "
        f"{result['settings']['runs']} interleaved runs (seconds)"
    ]
    write = result.get("write")
    if write:
        lines += [
            "",
            "1. Embedded (DuckDB): AKKO's checks against the write, and against one query per check",
        ]
        for name in (ORDERS, ORDERS_RG):
            part = write[name]
            files = part["files"]
            lines += [
                "",
                f"{name}: {files['data_files']} data file(s), {files['row_groups']} row group(s), "
                f"{files['bytes'] / 1e6:.1f} MB",
                checks_table(part, CONTENDERS),
                *(goal_lines(part, write, name) if name == ORDERS else []),
            ]
        groups = result["settings"]["row_group_rows_variant"]
        checks_x = write["row_groups_speedup"]["checks"]["ratio"]
        write_x = round(1 / write["row_groups_speedup"]["write"]["ratio"], 3)
        lines.append(
            f"With row groups of {groups:,} rows ({ORDERS_RG}): AKKO's checks {checks_x}x as fast, the write "
            f"{write_x}x the time."
        )
    wap = result.get("wap")
    if wap:
        ratio = wap["checked_over_plain"]
        lines += [
            "",
            "2. End to end: write_arrow with the 8 checks (branch, checks, history, publish) / without checks",
            table(
                ["", "median s", "range"],
                [
                    ["with checks", wap["checked"]["median_s"], wap["checked"]["range_s"]],
                    ["without checks", wap["plain"]["median_s"], wap["plain"]["range_s"]],
                ],
            ),
            f"ratio {ratio['ratio']} (pairs {ratio['ratio_pairs_median']}, minima {ratio['ratio_of_minima']}, "
            f"cpu {ratio['ratio_cpu']}); overhead {wap['overhead_s']} s. Phases of one call with checks (median "
            f"of {wap['phases']['calls']}, total {wap['phases']['total_s']} s):",
            table(["phase", "s"], [[k, v] for k, v in wap["phases"]["seconds"].items()]),
        ]
    breakdown = result.get("breakdown")
    if breakdown:
        lines += [
            "",
            f"3. Where the time goes, embedded ({breakdown['table']} unless named; medians of "
            f"{breakdown['runs']} interleaved runs)",
            table(
                ["part", "median s", "min s", "cpu s"],
                [
                    [k, v, breakdown["minima_s"][k], breakdown["cpu_s"][k] or ""]
                    for k, v in breakdown["seconds"].items()
                ],
            ),
        ]
    trino = result.get("trino")
    if trino:
        part = trino[ORDERS]
        files = part["files"]
        stack_note = (
            f"stack started here in {trino['stack']['startup_s']} s"
            if trino["stack"]["started_here"]
            else "a running stack"
        )
        lines += [
            "",
            f"4. Trino ({trino.get('trino_version')}, {stack_note}): {ORDERS} written with pyiceberg into the "
            f"shared catalog ({files['data_files']} data file(s), {files['row_groups']} row group(s), "
            f"{files['bytes'] / 1e6:.1f} MB); medians of {trino['runs']} interleaved runs after "
            f"{trino['warmups']} warm-ups; cpu: this process only",
            checks_table(part, {**CONTENDERS, **TRINO_EXTRAS}, cpu=False),
            *goal_lines(part, trino, f"{ORDERS} on Trino"),
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
    parser.add_argument(
        "--only", help=f"comma-separated parts: {','.join(PARTS)},trino (default: {','.join(PARTS)})"
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also on Trino: starts akko stack in a throwaway folder (1-2 min) and stops it, unless --state-dir",
    )
    parser.add_argument(
        "--state-dir", help="with --cluster: use the stack `akko stack up` runs for this folder"
    )
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/checks-*.json)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary project folder")
    args = parser.parse_args()
    only = tuple(part.strip() for part in (args.only or ",".join(PARTS)).split(",") if part.strip())
    if args.runs < 1:
        parser.error("--runs must be at least 1 (5 or more for meaningful medians)")
    if args.state_dir and not (args.cluster or "trino" in only):
        parser.error("--state-dir needs --cluster (or --only trino)")
    unknown = sorted(set(only) - {*PARTS, "trino"})
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    result = measure(
        args.runs, args.rows, only, args.json, args.keep, args.row_group_rows, args.cluster, args.state_dir
    )
    print(report(result))


if __name__ == "__main__":
    main()
