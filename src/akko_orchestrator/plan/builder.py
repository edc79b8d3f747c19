"""Build a `Plan` from a validated `Pipeline`: infer dependencies from tables read and written, check the graph.

Every problem becomes a `SpecIssue` located in the spec file, so Airflow and `akko validate` show file:line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, SqlSyntaxError, TableRef, tables_read
from akko_orchestrator.plan.statements import query_issues
from akko_orchestrator.spec.models import IngestStep, Pipeline, PythonStep, SparkStep, SqlStep, Step
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc


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
    display: str | None = None  # the .sql file as shown in messages (relative like the spec's display path)


@dataclass
class _Planner:
    pipeline: Pipeline
    source: SpecSource
    sql_cache: MutableMapping[str, list[str]] = field(default_factory=dict)
    profile: str | None = None  # the active profile: steps limited to other `profiles` are left out
    engine: str | None = None  # `embedded`: SQL that DuckDB cannot answer like Trino is refused
    issues: list[SpecIssue] = field(default_factory=list)

    def plan(self) -> Plan:
        self._check_schedule()
        self._check_ids()
        # Every step is checked (its SQL, its script), even one that does not run on this profile.
        reads = {step.id: self._reads(index, step) for index, step in enumerate(self.pipeline.steps)}
        active = [step for step in self.pipeline.steps if self._runs_here(step)]
        if not self.pipeline_runs_here:
            active = []  # checked all the same; compiles to no DAG on this profile
        elif not active:
            reason = f"no step runs on profile '{self.profile}': every step lists other `profiles`"
            self.issues.append(self.source.issue(("steps",), reason, "remove `profiles` from one step"))
        if self.engine == "embedded":
            self._check_embedded_sql()
        writers = self._writers()
        upstream = {step.id: self._upstream(step, reads[step.id], writers) for step in active}
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
        reason, offset = _cron_problem(schedule)
        if reason:
            close = _close_matches(schedule if schedule.startswith("@") else f"@{schedule}", PRESETS, 1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else "e.g. '0 6 * * *' for 06:00 every day, '@daily' or `manual`"
            )
            issue = self.source.issue(("schedule",), reason, hint)
            line, column = self.source.scalar_position(("schedule",), offset)  # at the faulty cron field
            self.issues.append(
                SpecIssue(issue.file, line or issue.line, column or issue.column, issue.field, reason, hint)
            )

    def _check_ids(self) -> None:
        seen: dict[str, int] = {}
        for index, step in enumerate(self.pipeline.steps):
            if step.id in seen:
                reason = f"duplicate step id '{step.id}' (first used by steps[{seen[step.id]}])"
                hint = "step ids are Airflow task ids and must be unique in a pipeline: rename one"
                self.issues.append(self.source.issue(("steps", index, "id"), reason, hint))
            seen.setdefault(step.id, index)
            others = [s.id for s in self.pipeline.steps if s.id != step.id]
            for position, name in enumerate(step.after):
                if name in others:
                    continue
                loc = ("steps", index, "after", position)
                if name == step.id:
                    self.issues.append(self.source.issue(loc, "a step cannot wait for itself", "remove it"))
                    continue
                close = _close_matches(name, others, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"steps: {', '.join(others) or 'none'}"
                self.issues.append(self.source.issue(loc, f"unknown step '{name}' in `after`", hint))

    def _check_embedded_sql(self) -> None:
        """SQL of this profile's steps that the embedded engine would refuse or answer differently than Trino:
        an error now, at file:line:column, rather than a failed or (worse) a wrong answer at run time."""
        for index, step in enumerate(self.pipeline.steps):
            if not isinstance(step, SqlStep) or not self._runs_here(step):
                continue
            for sql in self._sql_texts(index, step):
                for offset, message in self._embedded_issues(sql.text):
                    self.issues.append(sql_issue(self.source, sql, offset, message))

    def _embedded_issues(self, text: str) -> list[tuple[int, str]]:
        key = "embedded:" + hashlib.sha256(text.encode()).hexdigest()[:32]
        cached = self.sql_cache.get(key)
        if cached is None:
            from akko_orchestrator.plan.sql_support import embedded_unsupported  # deferred: sqlglot

            cached = [f"{issue.offset}\t{issue.message}" for issue in embedded_unsupported(text)]
            self.sql_cache[key] = cached
        return [(int(offset), message) for offset, _, message in (item.partition("\t") for item in cached)]

    @property
    def pipeline_runs_here(self) -> bool:
        return (
            self.profile is None or self.pipeline.profiles is None or self.profile in self.pipeline.profiles
        )

    def _runs_here(self, step: Step) -> bool:
        return self.profile is None or step.profiles is None or self.profile in step.profiles

    def _writers(self) -> dict[str, str]:
        writers: dict[str, str] = {}
        for index, step in enumerate(self.pipeline.steps):
            table = _output_table(step)
            if table is None or not self._runs_here(step):
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
        # Unknown `after` names are reported by `_check_ids`; a step of another profile is simply not waited for.
        known = {s.id for s in self.pipeline.steps if self._runs_here(s)}
        return sorted(inferred | (set(step.after) & known) - {step.id})

    def _reads(self, index: int, step: Step) -> list[str]:
        checked = self._check_reads(index, step)
        if isinstance(step, SparkStep):
            self._check_script(index, step)
            return sorted(set(step.inputs) | checked)
        if isinstance(step, PythonStep):
            return sorted(set(step.inputs) | checked)
        if not isinstance(step, SqlStep):
            return sorted(checked)
        tables: set[str] = set(checked)
        for sql in self._sql_texts(index, step):
            tables.update(self._sql_reads(sql))
        return sorted(tables)

    def _check_reads(self, index: int, step: Step) -> set[str]:
        """Validate the step's `checks` and return the other tables they read (a relationship's table, custom
        check SQL): the step waits for their writers like for its inputs."""
        if not step.checks:
            return set()
        output = _output_table(step)
        if output is None:
            reason = "`checks` need an output table: they audit what the step writes before it is published"
            self.issues.append(
                self.source.issue(("steps", index, "checks"), reason, "add `output` or remove them")
            )
            return set()
        from akko_orchestrator.quality.checks import check_name  # deferred: only specs with checks pay

        reads: set[str] = set()
        names: dict[str, int] = {}
        for position, check in enumerate(step.checks):
            loc = ("steps", index, "checks", position)
            name = check_name(check, position)
            if name in names:
                reason = f"two checks named '{name}' (the first is checks[{names[name]}])"
                self.issues.append(self.source.issue(loc, reason, "give one a distinct `name`"))
            names.setdefault(name, position)
            if check.relationships is not None:
                reads.add(check.relationships.to)
            texts = []
            if check.sql is not None:
                texts.append(SqlText(check.sql, (*loc, "sql")))
            if check.expression is not None:
                texts.append(SqlText(check.expression, (*loc, "expression")))
            for sql in texts:
                reads.update(self._check_sql(sql, as_condition=sql.loc[-1] == "expression"))
        return reads - {output}

    def _check_sql(self, sql: SqlText, as_condition: bool) -> list[str]:
        """A check's SQL parses as Trino (a condition: as a WHERE clause) and, on the embedded profile, runs on
        DuckDB as on Trino; errors at their line and column."""
        prefix = "SELECT 1 FROM _akko_t WHERE " if as_condition else ""
        wrapped = SqlText(prefix + sql.text, sql.loc, sql.file, sql.display)
        try:
            refs = tables_read(wrapped.text)
        except SqlSyntaxError as exc:
            offset = max(_offset_of(wrapped.text, exc.line, exc.column) - len(prefix), 0)
            self.issues.append(
                sql_issue(self.source, sql, offset, f"SQL does not parse as Trino: {exc.reason}")
            )
            return []
        if not as_condition:
            self.issues.extend(
                sql_issue(self.source, sql, i.offset, i.message) for i in query_issues(sql.text)
            )
        if self.engine == "embedded":
            for offset, message in self._embedded_issues(wrapped.text):
                self.issues.append(sql_issue(self.source, sql, max(offset - len(prefix), 0), message))
        return [] if as_condition else [ref.qualified for ref in refs if ref.namespace]

    def _check_script(self, index: int, step: SparkStep) -> None:
        """The script exists, compiles, and defines the function (no import: it may need pyspark)."""
        import ast  # deferred: only specs with Spark steps pay for it

        path = (self.source.path.parent / step.script).resolve()
        display = os.path.normpath(os.path.join(os.path.dirname(self.source.display), step.script))
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=display)
        except OSError as exc:
            reason = f"cannot read Spark script '{step.script}': {exc.strerror or exc}"
            hint = f"the path is relative to the spec file's folder; looked for {path}"
            self.issues.append(self.source.issue(("steps", index, "script"), reason, hint))
            return
        except SyntaxError as exc:
            field = format_loc(("steps", index, "script"))
            reason = f"Python syntax error: {exc.msg}"
            self.issues.append(SpecIssue(display, exc.lineno or 1, exc.offset or 1, field, reason, None))
            return
        defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        if step.function not in defined:
            close = _close_matches(step.function, defined, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"functions: {', '.join(defined) or 'none'}"
            reason = f"{display} defines no top-level function '{step.function}'"
            self.issues.append(self.source.issue(("steps", index, "function"), reason, hint))

    def _sql_texts(self, index: int, step: SqlStep) -> list[SqlText]:
        try:
            return step_sql_texts(self.source, index, step)
        except OSError as exc:
            reason = f"cannot read SQL file '{step.file}': {exc.strerror or exc}"
            hint = f"the path is relative to the spec file's folder; looked for {exc.filename}"
            self.issues.append(self.source.issue(("steps", index, "file"), reason, hint))
            return []

    def _sql_reads(self, sql: SqlText) -> list[str]:
        key = hashlib.sha256(sql.text.encode()).hexdigest()[:32]
        cached = self.sql_cache.get(key)
        if cached is not None:
            return cached
        try:
            refs = tables_read(sql.text)
        except SqlSyntaxError as exc:
            reason = f"SQL does not parse as Trino: {exc.reason}"
            self.issues.append(
                sql_issue(self.source, sql, _offset_of(sql.text, exc.line, exc.column), reason)
            )
            return []
        bad = [sql_issue(self.source, sql, i.offset, i.message) for i in query_issues(sql.text)]
        names = []
        for ref in refs:
            if ref.catalog not in ("", LAKEHOUSE_SQL_CATALOG) or not ref.namespace:
                bad.append(self._not_iceberg_issue(sql, ref))
                continue
            names.append(ref.qualified)
        self.issues.extend(bad)
        if not bad:  # cache only clean results, so a cached plan never hides an error
            self.sql_cache[key] = names
        return names

    def _not_iceberg_issue(self, sql: SqlText, ref: TableRef) -> SpecIssue:
        full = ".".join(p for p in (ref.catalog, ref.namespace, ref.name) if p)
        if ref.catalog:
            reason = f"table '{full}' is in catalog '{ref.catalog}', not in the Iceberg lakehouse"
            hint = (
                "copy it into the lakehouse with an `ingest` step whose source is `sql`, and read that table"
            )
        else:
            reason = f"table '{full}' has no namespace"
            hint = "write Iceberg tables as namespace.table, e.g. demo.sales"
        return sql_issue(self.source, sql, ref.offset, reason, hint)

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
        reason = f"dependency cycle {path}: each step waits for the next, through a table it reads or `after`"
        hint = "remove an `after` or a table read to break the cycle"
        self.issues.append(self.source.issue(("steps", index, "id"), reason, hint))


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


PRESETS = (*AIRFLOW_PRESETS, "@annually")
CRON_FIELDS = (
    "minute (0-59)",
    "hour (0-23)",
    "day of month (1-31)",
    "month (1-12 or jan-dec)",
    "day of week (0-6 or sun-sat)",
)


def schedule_problem(schedule: str) -> str | None:
    """Why a schedule string is not a valid cron expression or Airflow preset, or None."""
    return _cron_problem(schedule)[0]


def _cron_problem(schedule: str) -> tuple[str | None, int]:
    """(why the schedule is invalid or None, offset of the faulty part in the string)."""
    if schedule.startswith("@"):
        return (None if schedule in PRESETS else f"unknown schedule preset '{schedule}'"), 0
    from croniter import croniter

    fields = schedule.split()
    if len(fields) not in (5, 6):
        return (
            f"'{schedule}' is not a cron expression: it needs 5 fields "
            f"(minute hour day-of-month month day-of-week), not {len(fields)}"
        ), 0
    if croniter.is_valid(schedule):
        return None, 0
    offset = 0
    for position, (value, name) in enumerate(zip(fields, CRON_FIELDS, strict=False)):
        offset = schedule.index(value, offset)
        probe = ["*"] * 5
        probe[position] = value
        if not croniter.is_valid(" ".join(probe)):
            return f"'{schedule}' is not a valid cron expression: '{value}' is not a valid {name}", offset
        offset += len(value)
    return f"'{schedule}' is not a valid cron expression", 0


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
    if not found or node is None or not isinstance(node.value, str):
        return None, None
    return source.scalar_position(loc, _offset_of(node.value, sql_line, sql_col))


def step_sql_texts(source: SpecSource, index: int, step: SqlStep) -> list[SqlText]:
    """The SQL of `steps[index]` with where each text comes from; raises `OSError` if its `file` is unreadable."""
    if step.queries is not None:
        return [SqlText(q, ("steps", index, "queries", name)) for name, q in step.queries.items()]
    if step.sql is not None:
        return [SqlText(step.sql, ("steps", index, "sql"))]
    path = (source.path.parent / str(step.file)).resolve()
    display = os.path.normpath(os.path.join(os.path.dirname(source.display), str(step.file)))
    return [SqlText(path.read_text(encoding="utf-8"), ("steps", index, "file"), path, display)]


def sql_issue(
    source: SpecSource, sql: SqlText, offset: int | None, reason: str, suggestion: str | None = None
) -> SpecIssue:
    """An issue at character `offset` of an SQL text: in the .sql file, or in the spec through YAML styles."""
    field = format_loc(sql.loc)
    if sql.file is not None:
        line, column = _line_column(sql.text, offset) if offset is not None else (1, 1)
        return SpecIssue(sql.display or str(sql.file), line, column, field, reason, suggestion)
    issue = source.issue(sql.loc, reason, suggestion)
    if offset is None:
        return issue
    line, column = source.scalar_position(sql.loc, offset)
    return SpecIssue(issue.file, line or issue.line, column or issue.column, field, reason, suggestion)


def _offset_of(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(part) + 1 for part in lines[: max(line - 1, 0)]) + max(column - 1, 0)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _output_table(step: Step) -> str | None:
    output = getattr(step, "output", None)
    return output.table if output is not None else None


def build_plan(
    pipeline: Pipeline,
    source: SpecSource,
    sql_cache: MutableMapping[str, list[str]] | None = None,
    profile: str | None = None,
    engine: str | None = None,
) -> Plan:
    """Plan a pipeline for `profile` (None: every step) whose engine kind is `engine` (`embedded` checks what
    DuckDB can answer); raises `SpecError` listing every graph or SQL problem."""
    return _Planner(pipeline, source, sql_cache if sql_cache is not None else {}, profile, engine).plan()


def _close_matches(word: str, candidates, n: int = 1) -> list[str]:
    import difflib  # deferred: only error messages need it, and parse time counts every import

    return difflib.get_close_matches(word, list(candidates), n=n)
