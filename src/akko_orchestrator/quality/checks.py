"""Checks to SQL: every check of one table compiled into as few Trino SQL statements as possible.

One aggregate statement computes the metric of every check that a single pass can answer (not_null, unique,
accepted_values, range, freshness, expression, row_count, and relationships through a LEFT JOIN to the distinct
keys of the other table, which keeps the row count). Only custom `sql` checks need their own statement. Check
tools that run one query per check scan the table once per check; this is the difference the benchmark measures.

Pure functions: no engine, no catalog. The SQL is Trino's, run as written on Trino and transpiled on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from akko_orchestrator.spec.models import Check, duration_seconds

TARGET = "_akko_t"  # alias of the checked table in every generated statement


@dataclass(frozen=True)
class CompiledCheck:
    """A check with its default name, and the SQL pieces that compute and illustrate it."""

    check: Check
    name: str
    metrics: dict[str, str] = field(default_factory=dict)  # alias -> aggregate expression (single scan)
    failing_predicate: str | None = None  # a row-level condition, for sample rows
    statement: str | None = None  # a statement of its own (custom sql): returns the failing rows
    join: str | None = None  # relationships: the LEFT JOIN to the other table's distinct keys

    @property
    def kind(self) -> str:
        return self.check.kind


@dataclass(frozen=True)
class CheckPlan:
    table: str
    checks: list[CompiledCheck]
    aggregate_sql: str | None  # the single-scan statement, or None if no check needs it


def check_name(check: Check, index: int) -> str:
    if check.name:
        return check.name
    kind = check.kind
    if kind in ("not_null", "unique"):
        return f"{kind}_{'_'.join(getattr(check, kind))}"
    if kind in ("accepted_values", "range", "freshness", "relationships"):
        return f"{kind}_{getattr(check, kind).column}"
    if kind == "row_count":
        return "row_count"
    return f"{kind}_{index + 1}"


def compile_checks(table: str, checks: list[Check], answered: frozenset[int] = frozenset()) -> CheckPlan:
    """`answered`: indexes of checks the table's metadata already settled (quality/metadata.py): they keep their
    SQL (for sample rows) but stay out of the aggregate statement."""
    compiled = [_compile(check, index) for index, check in enumerate(checks)]
    scanned = [c for index, c in enumerate(compiled) if index not in answered]
    select = ["count(*) AS total_rows"] + [
        f"{expression} AS {alias}" for c in scanned for alias, expression in c.metrics.items()
    ]
    needs_scan = any(c.metrics or c.kind == "row_count" for c in scanned)
    joins = "".join(f" {c.join}" for c in scanned if c.join)
    aggregate = f"SELECT {', '.join(select)} FROM {table} AS {TARGET}{joins}" if needs_scan else None
    return CheckPlan(table, compiled, aggregate)


def _compile(check: Check, index: int) -> CompiledCheck:
    """Metric aliases are `c<index>_<metric>`; `c<index>_failing` counts the rows breaking the check."""
    name, prefix, kind = check_name(check, index), f"c{index}", check.kind
    if kind == "row_count":  # needs only the total every aggregate statement computes
        return CompiledCheck(check, name)
    if kind == "sql":
        return CompiledCheck(check, name, statement=(check.sql or "").strip().rstrip(";").strip())
    if kind == "freshness":
        assert check.freshness is not None
        return CompiledCheck(check, name, {f"{prefix}_newest": f"max({_col(check.freshness.column)})"})
    if kind == "unique":
        columns = check.unique or []
        # rows beyond the first of each key value; a NULL key is not a value (not_null checks those)
        if len(columns) == 1:  # count and count(DISTINCT) skip NULLs themselves
            failing = f"count({_col(columns[0])}) - count(DISTINCT {_col(columns[0])})"
        else:
            present = " AND ".join(f"{_col(c)} IS NOT NULL" for c in columns)
            key = f"ROW({', '.join(_col(c) for c in columns)})"
            failing = f"count_if({present}) - count(DISTINCT CASE WHEN {present} THEN {key} END)"
        return CompiledCheck(check, name, {f"{prefix}_failing": failing})
    join = None
    extra: dict[str, str] = {}
    if kind == "not_null":
        predicate = " OR ".join(f"{_col(c)} IS NULL" for c in check.not_null or [])
    elif kind == "accepted_values":
        spec = check.accepted_values
        assert spec is not None
        values = ", ".join(literal(v) for v in spec.values)
        predicate = f"{_col(spec.column)} IS NOT NULL AND {_col(spec.column)} NOT IN ({values})"
    elif kind == "range":
        rng = check.range
        assert rng is not None
        bounds = [f"{_col(rng.column)} < {literal(rng.min)}"] if rng.min is not None else []
        bounds += [f"{_col(rng.column)} > {literal(rng.max)}"] if rng.max is not None else []
        predicate = " OR ".join(bounds)
        extra = {f"{prefix}_min": f"min({_col(rng.column)})", f"{prefix}_max": f"max({_col(rng.column)})"}
    elif kind == "relationships":
        rel = check.relationships
        assert rel is not None
        alias = f"_akko_r{index}"
        join = (
            f'LEFT JOIN (SELECT DISTINCT "{rel.field or rel.column}" AS _akko_k FROM {rel.to}) AS {alias} '
            f"ON {_col(rel.column)} = {alias}._akko_k"
        )
        predicate = f"{_col(rel.column)} IS NOT NULL AND {alias}._akko_k IS NULL"
    else:  # expression: NULL does not meet the condition
        predicate = f"NOT coalesce(({check.expression}), false)"
    metrics = {f"{prefix}_failing": f"count_if({predicate})", **extra}
    return CompiledCheck(check, name, metrics, predicate, join=join)


def one_query_per_check(plan: CheckPlan) -> list[str]:
    """The way check-per-query tools run the same checks: one statement (one scan) per check. The benchmark's
    baseline; also handy to find which check breaks a statement."""
    statements = []
    for compiled in plan.checks:
        if compiled.statement is not None:
            statements.append(f"SELECT count(*) AS failing FROM ({compiled.statement}) AS _akko_failing")
            continue
        select = ", ".join(f"{e} AS {a}" for a, e in compiled.metrics.items()) or "count(*) AS total_rows"
        join = f" {compiled.join}" if compiled.join else ""
        statements.append(f"SELECT {select} FROM {plan.table} AS {TARGET}{join}")
    return statements


def sample_sql(plan: CheckPlan, compiled: CompiledCheck, limit: int) -> str | None:
    """A few failing rows (or, for unique, the duplicated keys and their counts)."""
    if compiled.statement is not None:
        return f"SELECT * FROM ({compiled.statement}) AS _akko_failing LIMIT {limit}"
    if compiled.kind == "unique":
        columns = ", ".join(_col(c) for c in compiled.check.unique or [])
        present = " AND ".join(f"{_col(c)} IS NOT NULL" for c in compiled.check.unique or [])
        return (
            f"SELECT {columns}, count(*) AS occurrences FROM {plan.table} AS {TARGET} WHERE {present} "
            f"GROUP BY {columns} HAVING count(*) > 1 ORDER BY occurrences DESC LIMIT {limit}"
        )
    if compiled.failing_predicate is None:
        return None
    join = f" {compiled.join}" if compiled.join else ""
    return (
        f"SELECT {TARGET}.* FROM {plan.table} AS {TARGET}{join} WHERE {compiled.failing_predicate} "
        f"LIMIT {limit}"
    )


def max_age_seconds(check: Check) -> float:
    assert check.freshness is not None
    return duration_seconds(check.freshness.max_age)


def percent(text: str) -> float:
    return float(text.rstrip("%")) / 100


def literal(value: object) -> str:
    """A Trino literal: numbers as written, ISO dates and timestamps typed, everything else a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return f"DATE '{text}'"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", text):
        return f"TIMESTAMP '{text.replace('T', ' ')}'"
    return "'" + text.replace("'", "''") + "'"


def _col(name: str) -> str:
    return f'{TARGET}."{name}"'
