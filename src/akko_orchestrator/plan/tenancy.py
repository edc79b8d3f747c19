"""A pipeline against its team's rules (config/tenancy.py), each refusal located where it is written: the team,
an output table, a table name inside SQL, an `inputs` entry, a check's `relationships.to`, a `schedule.on` table,
a dbt model's namespace or source (in the model's file), a `conn_id`.

Fast path first: the plan's tables (already known, SQL parsed and cached) are judged as names; only a refused one
makes its SQL be parsed again to find the character it sits at. Imports neither Airflow nor engines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from akko_orchestrator.config.tenancy import Refusal, Tenancy
from akko_orchestrator.dbt.graph import DbtGraph
from akko_orchestrator.errors import SpecIssue
from akko_orchestrator.plan import dbt_steps
from akko_orchestrator.plan.sql_refs import SqlSyntaxError, tables_read
from akko_orchestrator.plan.sql_text import SqlText, sql_issue, step_sql_texts
from akko_orchestrator.spec.models import (
    AssetSchedule,
    DbtStep,
    IngestStep,
    Pipeline,
    PythonStep,
    SparkStep,
    SqlStep,
    Step,
)
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc

CONDITION = "SELECT 1 FROM _akko_t WHERE "  # a check's `expression` parsed as a query, as the planner does


def tenancy_issues(
    pipeline: Pipeline,
    source: SpecSource,
    tenancy: Tenancy,
    reads: Mapping[str, list[str]],
    graphs: Mapping[str, DbtGraph],
) -> list[SpecIssue]:
    """Every place the pipeline reads, writes or connects outside its team (`reads`: step id -> tables read, as
    planned; `graphs`: dbt steps' graphs)."""
    if not tenancy.enabled:
        return []
    team = pipeline.team
    refused = tenancy.team_refusal(team)
    if refused is not None:
        return [source.issue(("team",), *refused)]
    issues: list[SpecIssue] = []
    if isinstance(pipeline.schedule, AssetSchedule):
        for position, table in enumerate(pipeline.schedule.on):
            if (refused := tenancy.read_refusal(team, table)) is not None:
                issues.append(source.issue(("schedule", "on", position), *refused))
    for index, step in enumerate(pipeline.steps):
        located = _Located(source, tenancy, team, index, step)
        located.writes(graphs.get(step.id))
        bad = {t for t in reads.get(step.id, []) if tenancy.read_refusal(team, t) is not None}
        if bad:
            located.reads(bad, graphs.get(step.id))
        for loc, conn_id in _connections(index, step):
            if (refused := tenancy.connection_refusal(team, conn_id)) is not None:
                located.issues.append(source.issue(loc, *refused))
        issues += located.issues
    return issues


def step_connections(step: Step) -> list[str]:
    """The Airflow connection ids a step's spec names (checked again when the step runs)."""
    return [conn_id for _, conn_id in _connections(0, step)]


def _connections(index: int, step: Step) -> Iterator[tuple[tuple, str]]:
    """(field path, conn_id) of every Airflow connection the step uses."""
    if isinstance(step, IngestStep):
        if step.source.sql is not None:
            yield ("steps", index, "source", "sql", "conn_id"), step.source.sql.conn_id
        if step.source.http is not None and step.source.http.conn_id is not None:
            yield ("steps", index, "source", "http", "conn_id"), step.source.http.conn_id
    elif isinstance(step, SparkStep):
        for name, spark_source in step.sources.items():
            if spark_source.jdbc is not None:
                yield ("steps", index, "sources", name, "jdbc", "conn_id"), spark_source.jdbc.conn_id


@dataclass
class _Located:
    """One step's refusals, each at the place its table or connection is written."""

    source: SpecSource
    tenancy: Tenancy
    team: str
    index: int
    step: Step
    issues: list[SpecIssue] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # refused reads located so far

    def writes(self, graph: DbtGraph | None) -> None:
        if graph is not None:
            self._dbt_writes(graph)
            return
        output = getattr(self.step, "output", None)
        refused = self.tenancy.write_refusal(self.team, output.table) if output is not None else None
        if refused is not None:
            self.issues.append(self.source.issue(("steps", self.index, "output", "table"), *refused))

    def _dbt_writes(self, graph: DbtGraph) -> None:
        """A model or seed written to a namespace the team may not write: at the step's `namespace` (or
        `project`) when it is the target schema, else at the `schema` in the model's file."""
        step = self.step
        assert isinstance(step, DbtStep)
        for node in graph.nodes:
            refused = self.tenancy.write_refusal(self.team, node.table)
            if refused is None:
                continue
            reason = f"dbt {node.resource_type} {node.name}: {refused[0]}"
            if node.schema != graph.target_schema:
                self.issues.append(self._in_model_file(node.file, "schema", reason, refused[1]))
                continue
            field_name = "namespace" if step.namespace else "project"
            self.issues.append(self.source.issue(("steps", self.index, field_name), reason, refused[1]))

    def _refuse(self, table: str) -> Refusal:
        self.seen.add(table)
        return self.tenancy.read_refusal(self.team, table) or ("", "")

    def reads(self, bad: set[str], graph: DbtGraph | None) -> None:
        step, index = self.step, self.index
        if isinstance(step, PythonStep | SparkStep):
            for position, table in enumerate(step.inputs):
                if table in bad:
                    self.issues.append(
                        self.source.issue(("steps", index, "inputs", position), *self._refuse(table))
                    )
        if isinstance(step, SqlStep):
            try:
                texts = step_sql_texts(self.source, index, step)
            except OSError:
                texts = []  # reported by the planner
            for sql in texts:
                self._in_sql(sql, bad)
        self._check_reads(bad)
        if graph is not None:
            self._dbt_reads(graph, bad)
        for table in sorted(bad - self.seen):  # read some other way: at the step
            self.issues.append(self.source.issue(("steps", index), *self._refuse(table)))

    def _dbt_reads(self, graph: DbtGraph, bad: set[str]) -> None:
        """A source or a ref outside the step: in the model's file, at the table's name; a table a model names in
        its SQL itself (plan/dbt_steps.py `written_reads`): in the first model file naming it."""
        for node in graph.nodes:
            for table in sorted({*node.sources, *node.refs_outside} & bad):
                reason, hint = self._refuse(table)
                self.issues.append(self._in_model_file(node.file, table.split(".", 1)[1], reason, hint))
        for table in sorted(bad - self.seen):
            file = next((n.file for n in graph.nodes if self._names(n.file, table)), None)
            if file is not None:
                self.issues.append(self._in_model_file(file, table, *self._refuse(table)))

    def _names(self, file: str, table: str) -> bool:
        assert isinstance(self.step, DbtStep)
        try:
            text = (dbt_steps.project_folder(self.source.path, self.step) / file).read_text(encoding="utf-8")
        except (OSError, ValueError):
            return False
        return table in text.lower()

    def _check_reads(self, bad: set[str]) -> None:
        checks = [(("steps", self.index, "checks"), self.step.checks)]
        if isinstance(self.step, DbtStep):
            checks += [
                (("steps", self.index, "models", n, "checks"), o.checks) for n, o in self.step.models.items()
            ]
        for at, step_checks in checks:
            for position, check in enumerate(step_checks):
                if check.relationships is not None and check.relationships.to in bad:
                    loc = (*at, position, "relationships", "to")
                    self.issues.append(self.source.issue(loc, *self._refuse(check.relationships.to)))
                if check.sql is not None:
                    self._in_sql(SqlText(check.sql, (*at, position, "sql")), bad)
                if check.expression is not None:  # a subquery of the condition
                    self._in_sql(SqlText(check.expression, (*at, position, "expression")), bad, CONDITION)

    def _in_sql(self, sql: SqlText, bad: set[str], prefix: str = "") -> None:
        for offset, table in _refs(sql, bad, prefix):
            at = offset - len(prefix) if offset is not None else None
            self.issues.append(sql_issue(self.source, sql, at, *self._refuse(table)))

    def _in_model_file(self, file: str, word: str, reason: str, hint: str) -> SpecIssue:
        """An issue in a dbt project's file, at the first line mentioning `word` (else line 1)."""
        assert isinstance(self.step, DbtStep)
        folder = dbt_steps.project_folder(self.source.path, self.step)
        line, column = 1, 1
        try:
            for number, text in enumerate((folder / file).read_text(encoding="utf-8").splitlines(), start=1):
                if word in text:
                    line, column = number, text.index(word) + 1
                    break
        except OSError:
            pass
        shown = os.path.normpath(dbt_steps.display_path(self.source.display, self.source.path, folder, file))
        return SpecIssue(shown, line, column, format_loc(("steps", self.index, "project")), reason, hint)


def _refs(sql: SqlText, bad: set[str], prefix: str = "") -> list[tuple[int | None, str]]:
    """The refused tables `sql` reads, at their offsets in `prefix + sql` (a condition is parsed as a query)."""
    try:
        return [(ref.offset, ref.qualified) for ref in tables_read(prefix + sql.text) if ref.qualified in bad]
    except SqlSyntaxError:
        return []  # reported by the planner
