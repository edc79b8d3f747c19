"""Checks to SQL: every check of one table compiled into as few Trino SQL statements as possible.

One aggregate statement computes the metric of every check that a single pass can answer (not_null, unique,
accepted_values, range, freshness, expression, row_count, and relationships through a LEFT JOIN to the distinct
keys of the other table, which keeps the row count). Only custom `sql` checks need their own statement. Check
tools that run one query per check scan the table once per check; this is the difference the benchmark measures.

Every statement is a sqlglot tree (sql/build.py): columns and tables are quoted identifiers, values typed literals,
a `sql` check's query a subquery node and an `expression` check's condition an expression node (sql/parse.py
refuses text that is not exactly one query or one condition). Pure functions: no engine, no catalog. The SQL is
Trino's, run as rendered on Trino and transpiled on DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from akko_orchestrator.spec.models import Check, duration_seconds
from akko_orchestrator.sql.build import alias, column, literal, render, star, subquery, table

if TYPE_CHECKING:
    from sqlglot import exp

TARGET = "_akko_t"  # alias of the checked table in every generated statement
FAILING = "_akko_failing"  # alias of a `sql` check's query
KEY = "_akko_k"  # the key column of a relationship's distinct keys


@dataclass(frozen=True)
class CompiledCheck:
    """A check with its default name, and the SQL nodes that compute and illustrate it (copied into each
    statement that uses them: a sqlglot node has one parent)."""

    check: Check
    name: str
    metrics: dict[str, exp.Expression] = field(default_factory=dict)  # alias -> aggregate (single scan)
    failing_predicate: exp.Expression | None = None  # a row-level condition, for sample rows
    statement: exp.Query | None = None  # a statement of its own (custom sql): returns the failing rows
    join: exp.Join | None = None  # relationships: the LEFT JOIN to the other table's distinct keys

    @property
    def kind(self) -> str:
        return self.check.kind


@dataclass(frozen=True)
class CheckPlan:
    table: str
    checks: list[CompiledCheck]
    aggregate: exp.Select | None  # the single-scan statement, or None if no check needs it

    @property
    def aggregate_sql(self) -> str | None:
        return render(self.aggregate) if self.aggregate is not None else None


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
    SQL (for sample rows) but stay out of the aggregate statement. Raises `SqlRefused` for a `sql` check that
    is not one query or an `expression` that is not one condition."""
    compiled = [_compile(table, check, index) for index, check in enumerate(checks)]
    scanned = [c for index, c in enumerate(compiled) if index not in answered]
    needs_scan = any(c.metrics or c.kind == "row_count" for c in scanned)
    aggregate = None
    if needs_scan:
        items = [alias(_count_star(), "total_rows")]
        items += [alias(e.copy(), a) for c in scanned for a, e in c.metrics.items()]
        aggregate = _scan(table, items, [c.join for c in scanned if c.join is not None])
    return CheckPlan(table, compiled, aggregate)


def failing_count_sql(compiled: CompiledCheck) -> str:
    """A `sql` check's statement: how many rows its query returns."""
    from sqlglot import exp

    assert compiled.statement is not None
    tree = exp.Select(expressions=[alias(_count_star(), "failing")]).from_(
        subquery(compiled.statement.copy(), FAILING), copy=False
    )
    return render(tree)


def one_query_per_check(plan: CheckPlan) -> list[str]:
    """The way check-per-query tools run the same checks: one statement (one scan) per check. The benchmark's
    baseline; also handy to find which check breaks a statement."""
    statements = []
    for compiled in plan.checks:
        if compiled.statement is not None:
            statements.append(failing_count_sql(compiled))
            continue
        items = [alias(e.copy(), a) for a, e in compiled.metrics.items()] or [
            alias(_count_star(), "total_rows")
        ]
        joins = [compiled.join] if compiled.join is not None else []
        statements.append(render(_scan(plan.table, items, joins)))
    return statements


def sample_sql(plan: CheckPlan, compiled: CompiledCheck, limit: int) -> str | None:
    """A few failing rows (or, for unique, the duplicated keys and their counts)."""
    from sqlglot import exp

    if compiled.statement is not None:
        source = subquery(compiled.statement.copy(), FAILING)
        return render(exp.Select(expressions=[star()]).from_(source, copy=False).limit(literal(limit)))
    if compiled.kind == "unique":
        keys = compiled.check.unique or []
        counted = alias(_count_star(), "occurrences")
        tree = (
            _scan(plan.table, [_col(c) for c in keys] + [counted], [])
            .where(_present(keys), copy=False)
            .group_by(*[_col(c) for c in keys], copy=False)
            .having(exp.GT(this=_count_star(), expression=literal(1)), copy=False)
            # ties broken by the keys: the same sample every time the same data is checked
            .order_by(
                exp.Ordered(this=column("occurrences"), desc=True),
                *[exp.Ordered(this=_col(c)) for c in keys],
                copy=False,
            )
            .limit(literal(limit), copy=False)
        )
        return render(tree)
    if compiled.failing_predicate is None:
        return None
    joins = [compiled.join] if compiled.join is not None else []
    tree = _scan(plan.table, [star(TARGET)], joins).where(compiled.failing_predicate.copy(), copy=False)
    return render(tree.limit(literal(limit), copy=False))


def max_age_seconds(check: Check) -> float:
    assert check.freshness is not None
    return duration_seconds(check.freshness.max_age)


def percent(text: str) -> float:
    return float(text.rstrip("%")) / 100


# -- compiling one check -----------------------------------------------------------------------------------


def _compile(table_name: str, check: Check, index: int) -> CompiledCheck:
    """Metric aliases are `c<index>_<metric>`; `c<index>_failing` counts the rows breaking the check."""
    from sqlglot import exp

    name, prefix, kind = check_name(check, index), f"c{index}", check.kind
    what = f"check '{name}' of {table_name}"
    if kind == "row_count":  # needs only the total every aggregate statement computes
        return CompiledCheck(check, name)
    if kind == "sql":
        from akko_orchestrator.sql.parse import query

        return CompiledCheck(check, name, statement=query(check.sql or "", f"{what}: `sql`"))
    if kind == "freshness":
        assert check.freshness is not None
        return CompiledCheck(check, name, {f"{prefix}_newest": exp.Max(this=_col(check.freshness.column))})
    if kind == "unique":
        return CompiledCheck(check, name, {f"{prefix}_failing": _duplicates(check.unique or [])})
    join, extra, predicate = None, {}, None
    if kind == "not_null":
        predicate = _any(exp.or_, [_is_null(c) for c in check.not_null or []])
    elif kind == "accepted_values":
        spec = check.accepted_values
        assert spec is not None
        outside = exp.Not(this=exp.In(this=_col(spec.column), expressions=[literal(v) for v in spec.values]))
        predicate = exp.and_(_not_null(spec.column), outside, copy=False)
    elif kind == "range":
        predicate, extra = _range(check, prefix)
    elif kind == "relationships":
        predicate, join = _relationship(check, index)
    else:  # expression: NULL does not meet the condition
        predicate = _unmet(check.expression or "", f"{what}: `expression`")
    metrics = {f"{prefix}_failing": exp.CountIf(this=predicate.copy()), **extra}
    return CompiledCheck(check, name, metrics, predicate, join=join)


def _duplicates(columns: list[str]) -> exp.Expression:
    """Rows beyond the first of each key value; a NULL key is not a value (not_null checks those)."""
    from sqlglot import exp

    if len(columns) == 1:  # count and count(DISTINCT) skip NULLs themselves
        distinct = exp.Count(this=exp.Distinct(expressions=[_col(columns[0])]), big_int=True)
        return exp.Sub(this=exp.Count(this=_col(columns[0]), big_int=True), expression=distinct)
    key = exp.Struct(expressions=[_col(c) for c in columns])  # Trino's ROW(a, b)
    keyed = exp.Case(ifs=[exp.If(this=_present(columns), true=key)])
    distinct = exp.Count(this=exp.Distinct(expressions=[keyed]), big_int=True)
    return exp.Sub(this=exp.CountIf(this=_present(columns)), expression=distinct)


def _range(check: Check, prefix: str) -> tuple[exp.Expression, dict[str, exp.Expression]]:
    from sqlglot import exp

    rng = check.range
    assert rng is not None
    bounds: list[exp.Expression] = []
    if rng.min is not None:
        bounds.append(exp.LT(this=_col(rng.column), expression=literal(rng.min)))
    if rng.max is not None:
        bounds.append(exp.GT(this=_col(rng.column), expression=literal(rng.max)))
    extra = {f"{prefix}_min": exp.Min(this=_col(rng.column)), f"{prefix}_max": exp.Max(this=_col(rng.column))}
    return _any(exp.or_, bounds), extra


def _relationship(check: Check, index: int) -> tuple[exp.Expression, exp.Join]:
    """`LEFT JOIN (SELECT DISTINCT "field" AS _akko_k FROM other) AS _akko_r<index> ON _akko_t."column" = ...`:
    one row per distinct key, so the join keeps the checked table's row count."""
    from sqlglot import exp

    rel = check.relationships
    assert rel is not None
    keys_alias = f"_akko_r{index}"
    keys = exp.Select(expressions=[alias(column(rel.field or rel.column), KEY)], distinct=exp.Distinct())
    keys = keys.from_(table(rel.to), copy=False)
    on = exp.EQ(this=_col(rel.column), expression=column(KEY, keys_alias))
    join = exp.Join(this=subquery(keys, keys_alias), side="LEFT", on=on)
    unmatched = exp.Is(this=column(KEY, keys_alias), expression=exp.Null())
    return exp.and_(_not_null(rel.column), unmatched, copy=False), join


def _unmet(text: str, what: str) -> exp.Expression:
    """`NOT coalesce((<condition>), false)`, the condition parsed as exactly one expression and its columns read
    from the checked table."""
    from sqlglot import exp

    from akko_orchestrator.sql.parse import condition, qualify

    met = qualify(condition(text, what), TARGET)
    return exp.Not(this=exp.Coalesce(this=exp.Paren(this=met), expressions=[exp.false()]))


# -- nodes -------------------------------------------------------------------------------------------------


def _scan(table_name: str, items: list[exp.Expression], joins: list[exp.Join]) -> exp.Select:
    """`SELECT items FROM <table> AS _akko_t [joins]`."""
    from sqlglot import exp

    tree = exp.Select(expressions=items).from_(table(table_name, alias=TARGET), copy=False)
    for join in joins:
        tree = tree.join(join.copy(), copy=False)
    return tree


def _col(name: str) -> exp.Column:
    return column(name, TARGET)


def _count_star() -> exp.Expression:
    from sqlglot import exp

    return exp.Count(this=exp.Star(), big_int=True)


def _is_null(name: str) -> exp.Expression:
    from sqlglot import exp

    return exp.Is(this=_col(name), expression=exp.Null())


def _not_null(name: str) -> exp.Expression:
    from sqlglot import exp

    return exp.Not(this=_is_null(name))


def _present(columns: list[str]) -> exp.Expression:
    from sqlglot import exp

    return _any(exp.and_, [_not_null(c) for c in columns])


def _any(connect, nodes: list[exp.Expression]) -> exp.Expression:  # noqa: ANN001 (exp.and_ / exp.or_)
    return nodes[0] if len(nodes) == 1 else connect(*nodes, copy=False)
