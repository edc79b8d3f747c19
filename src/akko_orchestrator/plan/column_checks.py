"""Columns a spec names on a step's output, judged against the columns that output will have (plan/columns.py):
check columns (`not_null`, `unique`, `accepted_values`, `range`, `freshness`, `relationships`, the columns an
`expression` reads), a relationship's `field` in its `to` table, merge `keys` and `partition_by` fields. Each
refusal at the name, with a *did you mean*; where the columns cannot be known nothing is said at validate, and the
run-time check names the check, the column and the table's columns (`missing_check_columns`) instead of a
binder error about AKKO's internal alias. Imports neither Airflow nor engines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass

from akko_orchestrator.errors import AkkoError, SpecIssue
from akko_orchestrator.plan.columns import UNNAMED, Columns, OutputColumns
from akko_orchestrator.plan.sql_text import SqlText, sql_issue
from akko_orchestrator.spec.models import Check, Output, Pipeline, Step
from akko_orchestrator.spec.yaml_source import SpecSource

_PARTITION_COLUMN = re.compile(r"^(?:\w+\((?:\d+,\s*)?)?(\w+)\)?$")


@dataclass(frozen=True)
class Named:
    """A column the spec names: where (a field path, or an offset inside an expression) and what it is used for."""

    loc: tuple[str | int, ...]
    column: str
    what: str
    offset: int | None = None  # inside the expression at `loc`


def column_issues(
    pipeline: Pipeline,
    source: SpecSource,
    cache: MutableMapping[str, list[str]],
    runs_here: Callable[[Step], bool],
) -> list[SpecIssue]:
    """Every column named on an output that the output will not have (when its columns are known)."""
    wanted = {index: list(_named(index, step, cache)) for index, step in enumerate(pipeline.steps)}
    relations = [(index, step) for index, step in enumerate(pipeline.steps) if _relationships(step)]
    if not any(wanted.values()) and not relations:
        return []  # nothing to judge: no SQL parsed
    outputs = OutputColumns(pipeline, source, cache, runs_here)
    issues: list[SpecIssue] = []
    for index, named in wanted.items():
        known = outputs.of_step(index) if named else None
        if known is None:
            continue
        table = pipeline.steps[index].output.table  # type: ignore[union-attr]
        issues += [_issue(source, n, table, known) for n in named if n.column.lower() not in known]
    for index, step in relations:
        issues += _relationship_issues(source, index, step, outputs)
    return issues


def _relationship_issues(
    source: SpecSource, index: int, step: Step, outputs: OutputColumns
) -> list[SpecIssue]:
    """A relationship's `field` (default: its `column`) in its `to` table, when this pipeline writes that table."""
    issues = []
    for position, check in _relationships(step):
        relation = check.relationships
        assert relation is not None
        known = outputs.of_table(relation.to)
        field_name = relation.field or relation.column
        if known is not None and field_name.lower() not in known:
            loc = (
                "steps",
                index,
                "checks",
                position,
                "relationships",
                "field" if relation.field else "column",
            )
            issues.append(_issue(source, Named(loc, field_name, "relationship field"), relation.to, known))
    return issues


def _issue(source: SpecSource, named: Named, table: str, known: Columns) -> SpecIssue:
    import difflib  # deferred: only error messages need it

    names = [name for name in known if name != UNNAMED]
    listed = ", ".join(names) or "none"
    reason = f"{named.what}: {table} will have no column '{named.column}' (its columns: {listed})"
    close = difflib.get_close_matches(named.column.lower(), names, n=1)
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif UNNAMED in known:
        hint = "an expression without `AS name` gets a name the engine makes up: name it in the query"
    else:
        hint = "name one of its columns, or add it to what writes the table"
    if named.offset is None:
        return source.issue(named.loc, reason, hint)
    expression = source.node_at(named.loc)[0]
    text = expression.value if expression is not None and isinstance(expression.value, str) else ""
    return sql_issue(source, SqlText(text, named.loc), named.offset, reason, hint)


def _relationships(step: Step) -> list[tuple[int, Check]]:
    return [
        (p, c)
        for p, c in enumerate(step.checks)
        if c.relationships is not None and getattr(step, "output", None)
    ]


def _named(index: int, step: Step, cache: MutableMapping[str, list[str]]) -> Iterator[Named]:
    output: Output | None = getattr(step, "output", None)
    if output is None:
        return
    at = ("steps", index)
    for position, key in enumerate(output.keys):
        yield Named((*at, "output", "keys", position), key, "merge key")
    for position, spec in enumerate(output.partition_by):
        match = _PARTITION_COLUMN.match(spec)
        if match is not None:
            yield Named((*at, "output", "partition_by", position), match.group(1), f"partition field {spec}")
    for position, check in enumerate(step.checks):
        yield from check_columns((*at, "checks", position), check, cache)


def check_columns(
    loc: tuple[str | int, ...], check: Check, cache: MutableMapping[str, list[str]] | None = None
) -> Iterator[Named]:
    """The columns of the checked table a check names, each with its place in the spec."""
    kind = check.kind
    what = f"check {kind}"
    if kind in ("not_null", "unique"):
        for position, column in enumerate(getattr(check, kind) or []):
            yield Named((*loc, kind, position), column, what)
    elif kind in ("accepted_values", "range", "freshness", "relationships"):
        yield Named((*loc, kind, "column"), getattr(check, kind).column, what)
    elif kind == "expression":
        for column, offset in expression_columns(str(check.expression), cache):
            yield Named((*loc, "expression"), column, what, offset)


def expression_columns(
    expression: str, cache: MutableMapping[str, list[str]] | None = None
) -> list[tuple[str, int]]:
    """The checked table's columns an `expression` reads, with their offsets in it: unqualified columns of its
    own condition (not of a subquery, which reads its own tables). Memoised in `cache` (parse time)."""
    key = "expression-columns:" + hashlib.sha256(expression.encode()).hexdigest()[:32]
    cached = cache.get(key) if cache is not None else None
    if cached is None:
        cached = [f"{column}\t{offset}" for column, offset in _parse_columns(expression)]
        if cache is not None:
            cache[key] = cached
    return [(column, int(offset)) for column, _, offset in (item.partition("\t") for item in cached)]


def _parse_columns(expression: str) -> Iterator[tuple[str, int]]:
    from sqlglot import exp

    from akko_orchestrator.sql.parse import SqlRefused, condition

    try:
        tree = condition(expression)  # the condition the check runs, with positions in `expression`
    except SqlRefused:
        return  # reported by the planner
    for column in tree.find_all(exp.Column):
        start = column.this.meta.get("start") if isinstance(column.this, exp.Identifier) else None
        if column.table in ("", "_akko_t") and isinstance(start, int):
            yield column.name.lower(), start


def missing_check_columns(table: str, checks: Iterable[Check], columns: Iterable[str]) -> AkkoError | None:
    """For the run-time checks (quality/runner.py), before their statement runs on the snapshot whose columns are
    `columns`: the first check naming a column the table lacks, as an error naming the check, the column and the
    table's columns (else the engine's binder error names AKKO's internal alias `_akko_t`); None when all exist."""
    import difflib

    from akko_orchestrator.quality.checks import check_name

    have = {c.lower(): c for c in columns}
    for position, check in enumerate(checks):
        for named in check_columns((), check):
            if named.column.lower() in have:
                continue
            close = difflib.get_close_matches(named.column.lower(), list(have), n=1)
            hint = f"; did you mean '{have[close[0]]}'?" if close else ""
            return AkkoError(
                f"check '{check_name(check, position)}' on {table}: the table has no column '{named.column}'{hint} "
                f"(its columns: {', '.join(have.values()) or 'none'})"
            )
    return None
