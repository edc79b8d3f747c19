"""The columns a step's output table will have, where the spec alone tells them; None where it cannot.

Known: a `sql` step's projection (sqlglot's names of the outermost query; a `*` expanded with sqlglot's `qualify`
against the columns of the tables read, when those are known in turn), an `ingest` of a `sql` source whose query
names its columns. Unknown: files, HTTP, python, Spark and dbt outputs (their columns come from data or code), a
projection over a table of unknown columns. Checks, partition fields and merge keys are judged only against known
columns (plan/column_checks.py); nothing is guessed.

Parse time counts every SQL parse: the names derived from a text are memoised in the plan's SQL cache (keyed by the
text and the input columns used), and nothing is parsed for a pipeline that has nothing to judge. Imports neither
Airflow nor engines; sqlglot is imported on first use.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from akko_orchestrator.plan.sql_text import step_sql_texts
from akko_orchestrator.spec.models import IngestStep, Pipeline, SqlStep, Step
from akko_orchestrator.spec.yaml_source import SpecSource

UNKNOWN = "*"  # cached for a text whose columns cannot be known (no column is named `*`)
UNNAMED = ""  # an expression without a name in a projection
Columns = tuple[str, ...]


@dataclass
class OutputColumns:
    """Each table's columns as the pipeline's steps will write them, computed on demand."""

    pipeline: Pipeline
    source: SpecSource
    cache: MutableMapping[str, list[str]]
    runs_here: Callable[[Step], bool] = lambda step: True
    known: dict[str, Columns | None] = field(default_factory=dict)  # table -> columns (memo)
    pending: set[str] = field(default_factory=set)  # tables being resolved (a cycle is reported elsewhere)

    def of_step(self, index: int) -> Columns | None:
        step = self.pipeline.steps[index]
        if isinstance(step, SqlStep) and step.output is not None:
            return self._of_sql(index, step)
        if isinstance(step, IngestStep) and step.source.sql is not None:
            return self._memo(f"ingest-columns:{_digest(step.source.sql.query)}", lambda: _ingest_names(step))
        return None

    def of_table(self, table: str) -> Columns | None:
        """A table this pipeline writes on this profile (one writer, or writers that agree); None otherwise."""
        if table in self.known:
            return self.known[table]
        if table in self.pending:
            return None
        self.pending.add(table)
        writers = [
            i
            for i, s in enumerate(self.pipeline.steps)
            if getattr(getattr(s, "output", None), "table", None) == table and self.runs_here(s)
        ]
        found = {self.of_step(i) for i in writers}
        self.pending.discard(table)
        self.known[table] = found.pop() if len(found) == 1 else None
        return self.known[table]

    def _of_sql(self, index: int, step: SqlStep) -> Columns | None:
        try:
            [sql] = step_sql_texts(self.source, index, step)
        except (OSError, ValueError):
            return None  # an unreadable file is reported by the planner
        return self._memo(f"columns:{_digest(sql.text)}", lambda: _names(sql.text, self.of_table))

    def _memo(
        self, key: str, compute: Callable[[], tuple[Columns | None, Mapping[str, Columns]]]
    ) -> Columns | None:
        """`compute` gives the names and the input columns they depend on; both go in the cache, so a cached entry
        holds only while those inputs are what they were."""
        cached = self.cache.get(key)
        if cached is not None and len(cached) == 2:
            inputs = json.loads(cached[1])
            if all(tuple(self.of_table(t) or ()) == tuple(c) for t, c in inputs.items()):
                names = json.loads(cached[0])
                return None if names == UNKNOWN else tuple(names)
        names, used = compute()
        self.cache[key] = [
            json.dumps(UNKNOWN if names is None else list(names)),
            json.dumps(used, sort_keys=True),
        ]
        return names


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _names(
    sql: str, columns_of: Callable[[str], Columns | None]
) -> tuple[Columns | None, dict[str, Columns]]:
    """The output names of a Trino query, and the columns of the tables a `*` was expanded with."""
    from akko_orchestrator.plan.sql_refs import SqlSyntaxError, parse_trino

    try:
        statements = parse_trino(sql)
    except SqlSyntaxError:
        return None, {}
    if len(statements) != 1:
        return None, {}
    return projection(statements[0], columns_of)


def projection(
    tree: Any, columns_of: Callable[[str], Columns | None]
) -> tuple[Columns | None, dict[str, Columns]]:
    """The names a query's result has (lowercase, as Trino and Iceberg name them), or None when a `*` covers a
    table of unknown columns; with the columns of the tables used to expand `*`."""
    from sqlglot import exp

    query = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if not isinstance(query, exp.Query) or isinstance(query, exp.Values):
        return None, {}
    if not any(isinstance(e, exp.Star) or e.is_star for e in query.selects):
        return _plain_names(query.selects), {}
    return _expanded(query, columns_of)


def _plain_names(selects: list[Any]) -> Columns:
    """A column keeps its name, an alias names its expression; other expressions get a name the engine makes up
    (Trino's `_col1`, DuckDB's text of the expression), which no spec can rely on: `UNNAMED` stands for it."""
    from sqlglot import exp

    return tuple(
        e.alias_or_name.lower() if isinstance(e, exp.Alias | exp.Column) else UNNAMED for e in selects
    )


def _expanded(
    query: Any, columns_of: Callable[[str], Columns | None]
) -> tuple[Columns | None, dict[str, Columns]]:
    """`*` expanded by sqlglot's `qualify` against the known columns of the tables read; None if one is unknown."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.qualify import qualify

    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    schema: dict[str, dict[str, dict[str, str]]] = {}
    used: dict[str, Columns] = {}
    for table in query.find_all(exp.Table):
        name = f"{table.db}.{table.name}".lower()
        if not table.db and table.name.lower() in ctes:
            continue
        columns = columns_of(name) if table.db else None
        if columns is None:
            return None, {}
        used[name] = columns
        schema.setdefault(table.db.lower(), {})[table.name.lower()] = dict.fromkeys(columns, "varchar")
    try:
        qualified = qualify(query.copy(), schema=schema, dialect="trino", validate_qualify_columns=False)
    except (SqlglotError, ValueError, KeyError):
        return None, {}
    if any(isinstance(e, exp.Star) or e.is_star for e in qualified.selects):
        return None, {}
    return tuple(
        UNNAMED if _made_up(e) else name
        for e, name in zip(qualified.selects, _plain_names(qualified.selects), strict=True)
    ), used


def _made_up(select: Any) -> bool:
    """`qualify` names an expression without a name `_col_<n>` (an alias no spec can give: ids start with a letter)."""
    from sqlglot import exp

    return (
        isinstance(select, exp.Alias)
        and re.fullmatch(r"_col_\d+", select.alias) is not None
        and not isinstance(select.this, exp.Column)
    )


def _ingest_names(step: IngestStep) -> tuple[Columns | None, dict[str, Columns]]:
    """An ingest's `sql` source: its query, in the source database's dialect (PostgreSQL is the one AKKO ships
    connections for), names its columns unless it selects `*`."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    assert step.source.sql is not None
    try:
        tree = sqlglot.parse_one(step.source.sql.query, read="postgres")
    except SqlglotError:
        return None, {}
    if not isinstance(tree, exp.Query) or any(isinstance(e, exp.Star) or e.is_star for e in tree.selects):
        return None, {}
    return _plain_names(tree.selects), {}
