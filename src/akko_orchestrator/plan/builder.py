"""Build a `Plan` from a validated `Pipeline`: infer dependencies from tables read and written, check the graph.

Every problem becomes a `SpecIssue` located in the spec file, so Airflow and `akko validate` show file:line.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.plan.sql_refs import SqlSyntaxError, tables_read
from akko_orchestrator.spec.models import IngestStep, Pipeline, PythonStep, SqlStep, Step
from akko_orchestrator.spec.yaml_source import SpecSource

LAKEHOUSE_SQL_CATALOG = "iceberg"  # the Trino catalog name that means "our Iceberg lakehouse" in SQL text


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    reads: tuple[str, ...]
    writes: str | None
    upstream: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def kind(self) -> str:
        return self.step.kind

    @property
    def fans_out(self) -> bool:
        return isinstance(self.step, IngestStep) and self.step.source.is_glob


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    spec_file: str
    steps: tuple[PlannedStep, ...]  # topological order, ties broken by spec order

    def step(self, step_id: str) -> PlannedStep:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def tables_written(self) -> tuple[str, ...]:
        return tuple(sorted({s.writes for s in self.steps if s.writes}))

    @property
    def external_reads(self) -> tuple[str, ...]:
        written = set(self.tables_written)
        return tuple(sorted({t for s in self.steps for t in s.reads if t not in written}))


@dataclass
class SqlText:
    """The SQL of a step and where it came from, to map parse errors back to the spec or .sql file."""

    text: str
    loc: tuple[str | int, ...]
    file: Path | None = None


@dataclass
class _Planner:
    pipeline: Pipeline
    source: SpecSource
    sql_cache: MutableMapping[str, list[str]] = field(default_factory=dict)
    issues: list[SpecIssue] = field(default_factory=list)

    def plan(self) -> Plan:
        self._check_schedule()
        self._check_ids()
        reads = {step.id: self._reads(index, step) for index, step in enumerate(self.pipeline.steps)}
        writers = self._writers()
        upstream = {step.id: self._upstream(step, reads[step.id], writers) for step in self.pipeline.steps}
        order = self._topological_order(upstream)
        if self.issues:
            raise SpecError(self.issues)
        by_id = {step.id: step for step in self.pipeline.steps}
        steps = tuple(
            PlannedStep(
                step=by_id[step_id],
                reads=tuple(reads[step_id]),
                writes=_output_table(by_id[step_id]),
                upstream=tuple(upstream[step_id]),
            )
            for step_id in order
        )
        return Plan(self.pipeline, self.source.display, steps)

    def _check_schedule(self) -> None:
        schedule = self.pipeline.schedule
        if not isinstance(schedule, str) or schedule == "manual":
            return
        reason = schedule_problem(schedule)
        if reason:
            self.issues.append(
                self.source.issue(("schedule",), reason, "e.g. '0 6 * * *', '@daily' or `manual`")
            )

    def _check_ids(self) -> None:
        seen: dict[str, int] = {}
        for index, step in enumerate(self.pipeline.steps):
            if step.id in seen:
                reason = f"duplicate step id '{step.id}' (first used by steps[{seen[step.id]}])"
                self.issues.append(self.source.issue(("steps", index, "id"), reason))
            seen.setdefault(step.id, index)
            for position, name in enumerate(step.after):
                if name not in {s.id for s in self.pipeline.steps} or name == step.id:
                    known = ", ".join(s.id for s in self.pipeline.steps if s.id != step.id)
                    reason = f"unknown step '{name}'" if name != step.id else "a step cannot wait for itself"
                    loc = ("steps", index, "after", position)
                    self.issues.append(self.source.issue(loc, reason, f"steps: {known}"))

    def _writers(self) -> dict[str, str]:
        writers: dict[str, str] = {}
        for index, step in enumerate(self.pipeline.steps):
            table = _output_table(step)
            if table is None:
                continue
            if table in writers:
                reason = f"table {table} is already written by step '{writers[table]}'"
                self.issues.append(
                    self.source.issue(("steps", index, "output", "table"), reason, "one writer per table")
                )
            writers.setdefault(table, step.id)
        return writers

    def _upstream(self, step: Step, reads: list[str], writers: dict[str, str]) -> list[str]:
        inferred = {writers[t] for t in reads if t in writers and writers[t] != step.id}
        known = {s.id for s in self.pipeline.steps}  # unknown `after` names are reported by `_check_ids`
        return sorted(inferred | (set(step.after) & known) - {step.id})

    def _reads(self, index: int, step: Step) -> list[str]:
        if isinstance(step, PythonStep):
            return sorted(set(step.inputs))
        if not isinstance(step, SqlStep):
            return []
        tables: set[str] = set()
        for sql in self._sql_texts(index, step):
            tables.update(self._sql_reads(sql))
        return sorted(tables)

    def _sql_texts(self, index: int, step: SqlStep) -> list[SqlText]:
        if step.queries is not None:
            return [SqlText(q, ("steps", index, "queries", name)) for name, q in step.queries.items()]
        if step.sql is not None:
            return [SqlText(step.sql, ("steps", index, "sql"))]
        path = (self.source.path.parent / str(step.file)).resolve()
        try:
            return [SqlText(path.read_text(encoding="utf-8"), ("steps", index, "file"), path)]
        except OSError:
            self.issues.append(self.source.issue(("steps", index, "file"), f"cannot read SQL file {path}"))
            return []

    def _sql_reads(self, sql: SqlText) -> list[str]:
        key = hashlib.sha256(sql.text.encode()).hexdigest()[:32]
        cached = self.sql_cache.get(key)
        if cached is not None:
            return cached
        try:
            refs = tables_read(sql.text)
        except SqlSyntaxError as exc:
            self.issues.append(self._sql_issue(sql, exc))
            return []
        names = []
        for ref in refs:
            if ref.catalog not in ("", LAKEHOUSE_SQL_CATALOG) or not ref.namespace:
                hint = "write tables as namespace.table (optionally iceberg.namespace.table)"
                if ref.catalog:
                    hint = (
                        f"catalog '{ref.catalog}' is not the lakehouse: load it with an `ingest` step first"
                    )
                full = ".".join(p for p in (ref.catalog, ref.namespace, ref.name) if p)
                self.issues.append(
                    self.source.issue(sql.loc, f"table '{full}' is not an Iceberg table", hint)
                )
                continue
            names.append(ref.qualified)
        self.sql_cache[key] = names
        return names

    def _sql_issue(self, sql: SqlText, exc: SqlSyntaxError) -> SpecIssue:
        reason = f"SQL does not parse as Trino: {exc.reason}"
        if sql.file is not None:
            return SpecIssue(str(sql.file), exc.line, exc.column, "sql", reason)
        line, column = sql_position(self.source, sql.loc, exc.line, exc.column)
        issue = self.source.issue(sql.loc, reason)
        return SpecIssue(issue.file, line or issue.line, column or issue.column, issue.field, reason)

    def _topological_order(self, upstream: dict[str, list[str]]) -> list[str]:
        order: list[str] = []
        pending = list(upstream)
        while pending:
            ready = [s for s in pending if all(u in order for u in upstream[s])]
            if not ready:
                self._report_cycle(pending, upstream)
                return order + pending
            order.extend(ready)
            pending = [s for s in pending if s not in ready]
        return order

    def _report_cycle(self, pending: list[str], upstream: dict[str, list[str]]) -> None:
        cycle = _find_cycle(pending, upstream)
        index = next(i for i, s in enumerate(self.pipeline.steps) if s.id == cycle[0])
        path = " -> ".join([*cycle, cycle[0]])
        reason = f"dependency cycle: {path} (from tables read and written, and `after`)"
        self.issues.append(self.source.issue(("steps", index, "id"), reason))


AIRFLOW_PRESETS = (
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
)


def schedule_problem(schedule: str) -> str | None:
    """Why a schedule string is not a valid cron expression or Airflow preset, or None."""
    if schedule.startswith("@"):
        return (
            None if schedule in (*AIRFLOW_PRESETS, "@annually") else f"unknown schedule preset '{schedule}'"
        )
    from croniter import croniter

    if len(schedule.split()) not in (5, 6) or not croniter.is_valid(schedule):
        return f"'{schedule}' is not a valid cron expression"
    return None


def _find_cycle(pending: list[str], upstream: dict[str, list[str]]) -> list[str]:
    start = pending[0]
    path = [start]
    while True:
        nxt = next(u for u in upstream[path[-1]] if u in pending)
        if nxt in path:
            return path[path.index(nxt) :]
        path.append(nxt)


def sql_position(
    source: SpecSource, loc: tuple, sql_line: int, sql_col: int
) -> tuple[int | None, int | None]:
    """Map a (line, column) inside an SQL string to the spec file, through YAML scalar styles."""
    node, found = source.node_at(loc)
    if not found or node is None:
        return None, None
    start = node.start_mark
    if getattr(node, "style", None) in ("|", ">"):
        first = start.line + 1  # block scalars start on the line after the indicator
        lines = source.text.splitlines()
        indent = len(lines[first]) - len(lines[first].lstrip()) if first < len(lines) else 0
        return first + sql_line, indent + sql_col
    if sql_line == 1:
        quote = 1 if getattr(node, "style", None) in ("'", '"') else 0
        return start.line + 1, start.column + quote + sql_col
    return start.line + sql_line, sql_col


def _output_table(step: Step) -> str | None:
    output = getattr(step, "output", None)
    return output.table if output is not None else None


def build_plan(
    pipeline: Pipeline, source: SpecSource, sql_cache: MutableMapping[str, list[str]] | None = None
) -> Plan:
    """Plan a pipeline; raises `SpecError` listing every graph or SQL problem."""
    return _Planner(pipeline, source, sql_cache if sql_cache is not None else {}).plan()
