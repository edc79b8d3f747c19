"""Build a `Plan` from a validated `Pipeline`: infer dependencies from tables read and written, check the graph.

Every problem becomes a `SpecIssue` located in the spec file, so Airflow and `akko validate` show file:line.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from akko_orchestrator.config.tenancy import Tenancy
from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.plan import dbt_steps, python_module
from akko_orchestrator.plan.column_checks import column_issues
from akko_orchestrator.plan.deadlines import deadline_issues
from akko_orchestrator.plan.model import Plan, PlannedStep
from akko_orchestrator.plan.ordering import dependency_order, find_cycle
from akko_orchestrator.plan.schedule import PRESETS, cron_problem, own_tables_issues
from akko_orchestrator.plan.source_files import missing_file_issues
from akko_orchestrator.plan.sql_parse import parsing_once, unparsed_reason
from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, SqlSyntaxError, TableRef, tables_read
from akko_orchestrator.plan.sql_sources import check_source_issues as sources
from akko_orchestrator.plan.sql_text import SqlText, offset_of_line, readable_sql_texts, sql_issue
from akko_orchestrator.plan.statements import query_issues
from akko_orchestrator.plan.trino_leniencies import grammar_issues
from akko_orchestrator.spec.models import Check, DbtStep, Pipeline, PythonStep, SparkStep, SqlStep, Step
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc

__all__ = ["Plan", "PlannedStep", "build_plan"]


@dataclass
class _Planner:
    pipeline: Pipeline
    source: SpecSource
    sql_cache: MutableMapping[str, list[str]] = field(default_factory=dict)
    profile: str | None = None  # the active profile: steps limited to other `profiles` are left out
    engine: str | None = None  # `embedded`: SQL that DuckDB cannot answer like Trino is refused
    dbt_graphs: dbt_steps.GraphProvider = dbt_steps.stored_graph  # a dbt step's graph (parse time: stored)
    tenancy: Tenancy | None = None  # akko.yaml's `teams`: what the pipeline's team may touch
    issues: list[SpecIssue] = field(default_factory=list)
    graphs: dict[str, dbt_steps.DbtGraph] = field(default_factory=dict)  # dbt step id -> its graph
    texts: dict[int, list[SqlText]] = field(default_factory=dict)  # step index -> its SQL texts

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
        self.issues += column_issues(self.pipeline, self.source, self.sql_cache, self._runs_here)
        self.issues += missing_file_issues(self.pipeline, self.source, self._runs_here)
        if self.tenancy is not None and self.tenancy.enabled:
            from akko_orchestrator.plan.tenancy import tenancy_issues

            self.issues += tenancy_issues(self.pipeline, self.source, self.tenancy, reads, self.graphs)
        writers = self._writers()
        self.issues += deadline_issues(self.pipeline, self.source, self.graphs)
        self.issues += own_tables_issues(self.pipeline, self.source, self.graphs)
        known = {s.id for s in self.pipeline.steps if self._runs_here(s)}
        upstream = {step.id: self._upstream(step, reads[step.id], writers, known) for step in active}
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
                dbt=self.graphs.get(step_id),
            )
            for step_id in order
        )
        return Plan(self.pipeline, self.source.display, steps)

    def _check_schedule(self) -> None:
        schedule = self.pipeline.schedule
        if not isinstance(schedule, str) or schedule == "manual":
            return
        reason, offset = cron_problem(schedule)
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
        ids = {s.id for s in self.pipeline.steps}  # one set: a 1,000-step spec would scan 1,000 lists
        for index, step in enumerate(self.pipeline.steps):
            if step.id in seen:
                reason = f"duplicate step id '{step.id}' (first used by steps[{seen[step.id]}])"
                hint = "step ids are Airflow task ids and must be unique in a pipeline: rename one"
                self.issues.append(self.source.issue(("steps", index, "id"), reason, hint))
            seen.setdefault(step.id, index)
            for position, name in enumerate(step.after):
                if name in ids and name != step.id:
                    continue
                loc = ("steps", index, "after", position)
                if name == step.id:
                    self.issues.append(self.source.issue(loc, "a step cannot wait for itself", "remove it"))
                    continue
                others = [s.id for s in self.pipeline.steps if s.id != step.id]
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
            if not self._runs_here(step):
                continue
            graph = self.graphs.get(step.id)
            tables = graph.tables if graph else [t for t in [_output_table(step)] if t]
            loc = ("steps", index, "project") if graph else ("steps", index, "output", "table")
            for table in tables:
                if table in writers:
                    reason = f"table {table} is already written by step '{writers[table]}'"
                    self.issues.append(self.source.issue(loc, reason, "one writer per table"))
                writers.setdefault(table, step.id)
        return writers

    def _upstream(self, step: Step, reads: list[str], writers: dict[str, str], known: set[str]) -> list[str]:
        """What `step` waits for: the writers of what it reads, and its `after` among the `known` steps (those of
        this profile: a step of another is simply not waited for; unknown names are `_check_ids`' issue)."""
        inferred = {writers[t] for t in reads if t in writers and writers[t] != step.id}
        return sorted(inferred | (set(step.after) & known) - {step.id})

    def _reads(self, index: int, step: Step) -> list[str]:
        checked = self._check_reads(index, step)
        if isinstance(step, DbtStep):
            return sorted(self._dbt_reads(index, step))
        if isinstance(step, SparkStep | PythonStep):  # its script or module parsed, its function callable
            self.issues += python_module.function_issues(self.source, index, step)
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
            hint = "give a dbt step's checks per model (`models: {name: {checks: ...}}`)"
            hint = hint if isinstance(step, DbtStep) else "add `output` or remove them"
            self.issues.append(self.source.issue(("steps", index, "checks"), reason, hint))
            return set()
        return self._checked(step.checks, ("steps", index, "checks"), output)

    def _checked(self, checks: list[Check], at: tuple, output: str) -> set[str]:
        """Validate `checks` (at `at` in the spec) of table `output`; the other tables they read."""
        from akko_orchestrator.quality.checks import check_name  # deferred: only specs with checks pay

        reads: set[str] = set()
        names: dict[str, int] = {}
        for position, check in enumerate(checks):
            loc = (*at, position)
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

    def _dbt_reads(self, index: int, step: DbtStep) -> set[str]:
        """The tables a dbt step's models read outside the step (its graph's sources and refs); its project's
        problems located in the project's files or at `project`; its model options checked."""
        folder = dbt_steps.project_folder(self.source.path, step)
        found = self.dbt_graphs(step, folder, dbt_steps.default_schema(step, self.pipeline))
        for message, file, line in found.problems:
            if file is None:
                self.issues.append(self.source.issue(("steps", index, "project"), message, None))
                continue
            shown = dbt_steps.display_path(self.source.display, self.source.path, folder, file)
            self.issues.append(
                SpecIssue(shown, line or 1, 1, format_loc(("steps", index, "project")), message)
            )
        if found.graph is None:
            return set()
        self.graphs[step.id] = found.graph
        named = dbt_steps.written_reads(folder, found.graph, self.sql_cache) - set(found.graph.tables)
        return set(found.graph.reads) | named | self._model_checks(index, step, found.graph)

    def _model_checks(self, index: int, step: DbtStep, graph: dbt_steps.DbtGraph) -> set[str]:
        names = {node.name: node for node in graph.nodes}
        reads: set[str] = set()
        for name, options in step.models.items():
            if name not in names:
                close = _close_matches(name, names, n=1)
                hint = f"did you mean `{close[0]}`?" if close else "models: " + ", ".join(sorted(names))
                reason = f"no model or seed '{name}' in this step's selection of the dbt project"
                self.issues.append(self.source.issue(("steps", index, "models", name), reason, hint))
                continue
            at = ("steps", index, "models", name, "checks")
            reads |= self._checked(options.checks, at, names[name].table)
        return reads - set(graph.tables)

    def _check_sql(self, sql: SqlText, as_condition: bool) -> list[str]:
        """A check's SQL parses as Trino (a condition: as exactly one expression, sql/parse.py) and, on the
        embedded profile, runs on DuckDB as on Trino; errors at their line and column."""
        if as_condition:
            self._check_condition(sql)
            return []
        try:
            refs = tables_read(sql.text)
        except SqlSyntaxError as exc:
            offset = offset_of_line(sql.text, exc.line, exc.column)
            self.issues.append(sql_issue(self.source, sql, offset, unparsed_reason(exc)))
            return []
        self.issues.extend(sql_issue(self.source, sql, i.offset, i.message) for i in query_issues(sql.text))
        self.issues += [sql_issue(self.source, sql, i.offset, i.message) for i in sources(sql.text)]
        for i in grammar_issues(sql.text, self.engine):  # on `embedded`, in the allow-lists below
            self.issues.append(sql_issue(self.source, sql, i.offset, i.message))
        if self.engine == "embedded":
            for offset, message in self._embedded_issues(sql.text):
                self.issues.append(sql_issue(self.source, sql, offset, message))
        return [ref.qualified for ref in refs if ref.namespace]

    def _check_condition(self, sql: SqlText) -> None:
        """An `expression` is one condition on the checked row, as the check runs it (quality/checks.py)."""
        from akko_orchestrator.sql.parse import SqlRefused, condition

        try:
            node = condition(sql.text, "`expression`")
        except SqlRefused as exc:
            offset = offset_of_line(sql.text, exc.line, exc.column) if exc.line else 0
            self.issues.append(sql_issue(self.source, sql, offset, exc.reason))
            return
        for i in grammar_issues(sql.text, self.engine, [node]):
            self.issues.append(sql_issue(self.source, sql, i.offset, i.message))
        if self.engine == "embedded":
            from akko_orchestrator.plan.sql_support import embedded_unsupported_condition

            for issue in embedded_unsupported_condition(sql.text, node):
                self.issues.append(sql_issue(self.source, sql, issue.offset, issue.message))

    def _sql_texts(self, index: int, step: SqlStep) -> list[SqlText]:
        """The step's SQL texts, read once (a `.sql` file, its problem reported once) however many checks ask."""
        if index not in self.texts:
            self.texts[index], problem = readable_sql_texts(self.source, index, step)
            self.issues += [problem] if problem is not None else []
        return self.texts[index]

    def _sql_reads(self, sql: SqlText) -> list[str]:
        key = hashlib.sha256(sql.text.encode()).hexdigest()[:32]
        cached = self.sql_cache.get(key)
        if cached is not None:
            return cached
        try:
            refs = tables_read(sql.text)
        except SqlSyntaxError as exc:
            self.issues.append(
                sql_issue(
                    self.source, sql, offset_of_line(sql.text, exc.line, exc.column), unparsed_reason(exc)
                )
            )
            return []
        bad = [sql_issue(self.source, sql, i.offset, i.message) for i in query_issues(sql.text)]
        bad += [
            sql_issue(self.source, sql, i.offset, i.message) for i in grammar_issues(sql.text, self.engine)
        ]
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
        order, pending = dependency_order(upstream)
        if pending:
            self._report_cycle(find_cycle(pending, upstream))
        return order + pending

    def _report_cycle(self, cycle: list[str]) -> None:
        index = next(i for i, s in enumerate(self.pipeline.steps) if s.id == cycle[0])
        path = " -> ".join([*cycle, cycle[0]])
        reason = f"dependency cycle {path}: each step waits for the next, through a table it reads or `after`"
        hint = "remove an `after` or a table read to break the cycle"
        self.issues.append(self.source.issue(("steps", index, "id"), reason, hint))


def _output_table(step: Step) -> str | None:
    output = getattr(step, "output", None)
    return output.table if output is not None else None


def build_plan(
    pipeline: Pipeline,
    source: SpecSource,
    sql_cache: MutableMapping[str, list[str]] | None = None,
    profile: str | None = None,
    engine: str | None = None,
    dbt_graphs: dbt_steps.GraphProvider | None = None,
    tenancy: Tenancy | None = None,
) -> Plan:
    """Plan a pipeline for `profile` (None: every step) whose engine kind is `engine` (`embedded` checks what
    DuckDB can answer); `dbt_graphs` gives dbt steps their graph (default: the stored one, as at parse time).
    `tenancy` (akko.yaml's `teams`) confines the pipeline to its team's namespaces and connections.
    Raises `SpecError` listing every graph, SQL or tenancy problem."""
    cache = sql_cache if sql_cache is not None else {}
    graphs = dbt_graphs or dbt_steps.stored_graph
    with parsing_once():  # each SQL text parsed once, whichever checks read it (plan/sql_parse.py)
        return _Planner(pipeline, source, cache, profile, engine, graphs, tenancy).plan()


def _close_matches(word: str, candidates, n: int = 1) -> list[str]:
    import difflib  # deferred: only error messages need it, and parse time counts every import

    return difflib.get_close_matches(word, list(candidates), n=n)
