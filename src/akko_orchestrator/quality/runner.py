"""Run a table's checks on a SQL engine against one snapshot (the audit branch's head) and judge them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import time
from typing import TYPE_CHECKING, Any

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.plan.sql_refs import tables_read
from akko_orchestrator.quality.checks import (
    CheckPlan,
    CompiledCheck,
    check_name,
    compile_checks,
    failing_count_sql,
    max_age_seconds,
    percent,
    sample_sql,
)
from akko_orchestrator.quality.metadata import SnapshotStats, snapshot_stats
from akko_orchestrator.quality.report import SAMPLE_ROWS, CheckReport, CheckResult
from akko_orchestrator.spec.models import Check
from akko_orchestrator.sql.build import render

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.engines.base import SqlEngine


def run_checks(
    engine: SqlEngine,
    table: str,
    checks: list[Check],
    snapshot_id: int | None,
    previous_rows: int | None,
    now: dt.datetime | None = None,
    catalog: Catalog | None = None,
) -> CheckReport:
    """`snapshot_id`: the snapshot checked (None: the table's current one); `previous_rows`: the rows of the table
    before this write (None: it had none), for relative row counts. With `catalog`, what the snapshot's Iceberg
    metadata settles is not scanned for (quality/metadata.py)."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    if catalog is not None:
        _columns_exist(catalog, table, checks, snapshot_id)
    stats = snapshot_stats(catalog, table, snapshot_id) if catalog is not None else None
    answered = _from_metadata(checks, stats, previous_rows, now)
    plan = compile_checks(table, checks, frozenset(answered))
    versions = {table: snapshot_id} if snapshot_id is not None else None
    reads = _reads(plan)
    metrics: dict[str, Any] = {}
    if plan.aggregate_sql is not None:
        row = engine.query_aggregates(plan.aggregate_sql, reads, versions=versions).to_pylist()[0]
        metrics = {key.lower(): value for key, value in row.items()}
    results = []
    for index, compiled in enumerate(plan.checks):
        if index in answered:
            result = _with_sample(engine, plan, compiled, answered[index], reads, versions)
        else:
            result = _judge(engine, plan, compiled, f"c{index}", metrics, previous_rows, now, reads, versions)
        results.append(result)
    return CheckReport(table, snapshot_id, results, time.perf_counter() - started)


def _columns_exist(catalog: Catalog, table: str, checks: list[Check], snapshot_id: int | None) -> None:
    """A check naming a column the checked snapshot lacks fails naming the check, the column and the table's
    columns, before any statement runs (an engine's binder error would name AKKO's internal alias instead)."""
    from akko_orchestrator.plan.column_checks import missing_check_columns

    loaded = catalog.load_table(table)
    snapshot = loaded.snapshot_by_id(snapshot_id) if snapshot_id is not None else loaded.current_snapshot()
    schema = loaded.schema()
    if snapshot is not None and snapshot.schema_id is not None:
        schema = loaded.metadata.schema_by_id(snapshot.schema_id) or schema
    missing = missing_check_columns(table, checks, [field.name for field in schema.fields])
    if missing is not None:
        raise missing


def _from_metadata(
    checks: list[Check], stats: SnapshotStats | None, previous_rows: int | None, now: dt.datetime
) -> dict[int, CheckResult]:
    """The checks the snapshot's statistics settle exactly, by index, judged as the SQL path would."""
    if stats is None:
        return {}
    answers: dict[int, CheckResult] = {}
    for index, check in enumerate(checks):
        base = {"name": check_name(check, index), "kind": check.kind, "severity": check.severity}
        if check.row_count is not None:
            answers[index] = _row_count(check, stats.rows, previous_rows, base)
        elif check.not_null is not None:
            nulls = [stats.columns[c].nulls if c in stats.columns else None for c in check.not_null]
            if all(n is not None for n in nulls) and sum(1 for n in nulls if n) <= 1:
                failing = sum(n for n in nulls if n)  # NULLs in at most one column: rows with any NULL
                observed, expected, column = _describe(check, failing, {}, "")
                answers[index] = CheckResult(
                    **base,
                    passed=failing == 0,
                    failing_rows=failing,
                    observed=observed,
                    expected=expected,
                    column=column,
                )
        elif check.range is not None and check.range.column in stats.columns:
            col = stats.columns[check.range.column]
            inside = col.lower is not None and _within(check, col.lower, col.upper)
            if inside or (
                col.nulls is not None and col.nulls == stats.rows
            ):  # all inside, or no value at all
                prefix = "m"
                observed, expected, column = _describe(
                    check, 0, {f"{prefix}_min": col.lower, f"{prefix}_max": col.upper}, prefix
                )
                answers[index] = CheckResult(
                    **base, passed=True, failing_rows=0, observed=observed, expected=expected, column=column
                )
        elif check.freshness is not None and check.freshness.column in stats.columns:
            col = stats.columns[check.freshness.column]
            if col.upper is not None or col.nulls == stats.rows:
                answers[index] = _freshness(check, col.upper, now, base)
    return answers


def _within(check: Check, lower: Any, upper: Any) -> bool:
    spec = check.range
    assert spec is not None
    try:
        low_ok = spec.min is None or lower >= _bound(spec.min, lower)
        high_ok = spec.max is None or upper <= _bound(spec.max, upper)
    except TypeError:  # a bound of another type than the column (the SQL path will say so)
        return False
    return low_ok and high_ok


def _bound(value: Any, like: Any) -> Any:
    """A spec bound as the column's Python type (ISO text for dates and timestamps)."""
    if isinstance(like, dt.datetime) and isinstance(value, str | dt.date):
        parsed = dt.datetime.fromisoformat(str(value))
        return parsed.replace(tzinfo=like.tzinfo) if parsed.tzinfo is None else parsed
    if isinstance(like, dt.date) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(like, decimal.Decimal) and isinstance(value, int | float):
        return decimal.Decimal(str(value))
    return value


def _with_sample(
    engine: SqlEngine,
    plan: CheckPlan,
    compiled: CompiledCheck,
    result: CheckResult,
    reads: list[str],
    versions: dict[str, int] | None,
) -> CheckResult:
    if result.passed or not result.failing_rows:
        return result
    statement = sample_sql(plan, compiled, SAMPLE_ROWS)
    if statement is None:
        return result
    from akko_orchestrator.runtime.results import table_preview

    sample = table_preview(engine.query(statement, reads, versions=versions), SAMPLE_ROWS)
    return dataclasses.replace(result, sample=sample)


def _reads(plan: CheckPlan) -> list[str]:
    reads = {plan.table}
    for compiled in plan.checks:
        if compiled.check.relationships is not None:
            reads.add(compiled.check.relationships.to)
        if compiled.statement is not None:
            reads.update(ref.qualified for ref in tables_read(render(compiled.statement)) if ref.namespace)
    return sorted(reads)


def _judge(
    engine: SqlEngine,
    plan: CheckPlan,
    compiled: CompiledCheck,
    prefix: str,
    metrics: dict[str, Any],
    previous_rows: int | None,
    now: dt.datetime,
    reads: list[str],
    versions: dict[str, int] | None,
) -> CheckResult:
    check = compiled.check
    kind = compiled.kind
    base = {"name": compiled.name, "kind": kind, "severity": check.severity}
    if kind == "row_count":
        return _row_count(check, int(metrics["total_rows"]), previous_rows, base)
    if kind == "freshness":
        return _freshness(check, metrics[f"{prefix}_newest"], now, base)
    if kind == "sql":
        counted = engine.query(failing_count_sql(compiled), reads, versions=versions)
        failing = int(counted.column(0)[0].as_py())
        observed, expected, column = f"{failing} row(s) returned", "the query returns no rows", None
    else:
        failing = int(metrics[f"{prefix}_failing"] or 0)
        observed, expected, column = _describe(check, failing, metrics, prefix)
    sample = None
    if failing:
        statement = sample_sql(plan, compiled, SAMPLE_ROWS)
        if statement is not None:
            from akko_orchestrator.runtime.results import table_preview

            sample = table_preview(engine.query(statement, reads, versions=versions), SAMPLE_ROWS)
    return CheckResult(
        **base,
        passed=failing == 0,
        failing_rows=failing,
        observed=observed,
        expected=expected,
        column=column,
        sample=sample,
    )


def _describe(
    check: Check, failing: int, metrics: dict[str, Any], prefix: str
) -> tuple[str, str, str | None]:
    kind = check.kind
    if kind == "not_null":
        columns = ", ".join(check.not_null or [])
        return f"{failing} row(s) with NULL", f"no NULL in {columns}", columns
    if kind == "unique":
        columns = ", ".join(check.unique or [])
        return f"{failing} duplicate row(s)", f"({columns}) unique", columns
    if kind == "accepted_values":
        spec = check.accepted_values
        assert spec is not None
        values = ", ".join(str(v) for v in spec.values)
        return f"{failing} row(s) outside", f"{spec.column} in ({values})", spec.column
    if kind == "range":
        spec = check.range
        assert spec is not None
        low, high = metrics[f"{prefix}_min"], metrics[f"{prefix}_max"]
        rule = " and ".join(
            part
            for part in (
                f">= {spec.min}" if spec.min is not None else "",
                f"<= {spec.max}" if spec.max is not None else "",
            )
            if part
        )
        return (
            f"{failing} row(s) outside; min {_text(low)}, max {_text(high)}",
            f"{spec.column} {rule}",
            spec.column,
        )
    if kind == "relationships":
        spec = check.relationships
        assert spec is not None
        return (
            f"{failing} row(s) without a match",
            f"{spec.column} in {spec.to}.{spec.field or spec.column}",
            spec.column,
        )
    return f"{failing} row(s) not meeting it", str(check.expression), None


def _row_count(check: Check, rows: int, previous: int | None, base: dict[str, Any]) -> CheckResult:
    spec = check.row_count
    assert spec is not None
    problems, rules = [], []
    if spec.min is not None:
        rules.append(f">= {spec.min} rows")
        if rows < spec.min:
            problems.append(f"below {spec.min}")
    if spec.max is not None:
        rules.append(f"<= {spec.max} rows")
        if rows > spec.max:
            problems.append(f"above {spec.max}")
    if spec.max_shrink is not None:
        rules.append(f"shrinks <= {spec.max_shrink}")
        if previous and rows < previous * (1 - percent(spec.max_shrink)):
            problems.append(f"shrank {100 * (previous - rows) / previous:.1f}%")
    if spec.max_growth is not None:
        rules.append(f"grows <= {spec.max_growth}")
        if previous and rows > previous * (1 + percent(spec.max_growth)):
            problems.append(f"grew {100 * (rows - previous) / previous:.1f}%")
    observed = f"{rows} rows" + (f" (was {previous})" if previous is not None else "")
    if problems:
        observed += ": " + ", ".join(problems)
    return CheckResult(
        **base, passed=not problems, failing_rows=None, observed=observed, expected=", ".join(rules)
    )


def _freshness(check: Check, newest: Any, now: dt.datetime, base: dict[str, Any]) -> CheckResult:
    spec = check.freshness
    assert spec is not None
    limit = max_age_seconds(check)
    expected = f"newest {spec.column} at most {spec.max_age} old"
    if newest is None:
        return CheckResult(
            **base,
            passed=False,
            failing_rows=None,
            observed="no values",
            expected=expected,
            column=spec.column,
        )
    if isinstance(newest, dt.datetime):
        moment = (
            newest if newest.tzinfo else newest.replace(tzinfo=dt.UTC)
        )  # Iceberg `timestamp`: UTC by AKKO's rule
    elif isinstance(newest, dt.date):
        moment = dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(), dt.UTC)  # a date lasts all day
    else:
        raise AkkoError(
            f"freshness of {spec.column}: not a date or timestamp column ({type(newest).__name__})"
        )
    age = (now - moment).total_seconds()
    observed = f"newest {_text(newest)} ({_age(age)} old)"
    return CheckResult(
        **base,
        passed=age <= limit,
        failing_rows=None,
        observed=observed,
        expected=expected,
        column=spec.column,
    )


def _age(seconds: float) -> str:
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _text(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)
