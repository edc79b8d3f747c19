"""Keeping dbt steps' graphs current, outside parse time: `akko sync` (and so `akko run`, `demo`, `dev`) and `akko
validate` build the graph of every dbt step whose project changed, so Airflow's parse finds it; `akko validate`
also compiles the project and judges each model's and test's SQL like spec SQL (Trino, one query, lakehouse tables,
and on the embedded profile what DuckDB would answer differently), at the model file's line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from akko_orchestrator.dbt.environment import DbtEnvironment, dbt_environment, namespace_team, project_teams
from akko_orchestrator.dbt.graph import DbtGraph
from akko_orchestrator.dbt.manifest import DbtProblem, build_graph, ensure_graph
from akko_orchestrator.dbt.project import DbtProjectError, fingerprint, load_project
from akko_orchestrator.plan.dbt_steps import DbtLookup, selection
from akko_orchestrator.spec.models import DbtStep

CHECKED_VERSION = 1


def graph_builder(
    engine: str | None = None, compile: bool = False, team: str | None = None
):  # -> GraphProvider
    """A provider of dbt graphs that builds them when stale; with `compile`, compiled SQL is judged too. dbt runs
    with the environment of `team` (default: the team writing the step's namespace, dbt/environment.py)."""

    def provide(step: DbtStep, folder: Path, schema: str) -> DbtLookup:
        try:
            project = load_project(folder)
        except DbtProjectError as exc:
            return DbtLookup(problems=[(str(exc), None, None)])
        teams = project_teams(folder)
        environment = dbt_environment(teams, team if team is not None else namespace_team(teams, schema))
        chosen = selection(step, schema)
        build = ensure_graph(project, chosen, step.vars, environment)
        problems = [(p.message, p.file, p.line) for p in build.problems]
        if build.graph is not None and compile:
            problems += _sql_problems(project, chosen, step, build.graph, engine, environment)
        return DbtLookup(build.graph, problems)

    return provide


def refresh_graphs(spec_files: list[Path]) -> None:
    """Build the graph of each dbt step of `spec_files` whose project changed (broken specs are skipped: their
    DAG shows their error)."""
    from akko_orchestrator.errors import SpecError
    from akko_orchestrator.plan.dbt_steps import default_schema, project_folder
    from akko_orchestrator.spec.loader import load_spec

    for spec in spec_files:
        try:
            text = spec.read_text(encoding="utf-8")
        except OSError:
            continue
        if "kind: dbt" not in text and "kind: 'dbt'" not in text and 'kind: "dbt"' not in text:
            continue  # no dbt step: no YAML parse needed
        try:
            pipeline, _ = load_spec(spec, str(spec))
        except SpecError:
            continue
        for step in pipeline.steps:
            if isinstance(step, DbtStep):
                provide = graph_builder(team=pipeline.team)
                provide(step, project_folder(spec, step), default_schema(step, pipeline))


def _sql_problems(
    project, chosen: dict, step: DbtStep, graph: DbtGraph, engine: str | None, environment: DbtEnvironment
) -> list[tuple[str, str | None, int | None]]:
    """The compiled SQL of each model and test judged as spec SQL; cached per project state and engine."""
    cache = (
        project.folder / "target" / "akko" / f"checked-{fingerprint(project, chosen)}-{engine or 'any'}.json"
    )
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("version") == CHECKED_VERSION:
            return [tuple(p) for p in stored["problems"]]
    except (OSError, ValueError, KeyError):
        pass
    build = build_graph(project, chosen, step.vars, compile=True, environment=environment)
    problems = [(p.message, p.file, p.line) for p in build.problems]
    files = {n.unique_id: n.file for n in graph.nodes} | {
        t.unique_id: t.file for n in graph.nodes for t in n.tests
    }
    for unique_id, sql in sorted(build.compiled.items()):
        problems += _judged(sql, files.get(unique_id), project.folder, engine)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": CHECKED_VERSION, "problems": problems}), encoding="utf-8")
    tmp.replace(cache)
    return problems


def _judged(
    sql: str, file: str | None, folder: Path, engine: str | None
) -> list[tuple[str, str | None, int | None]]:
    from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG, SqlSyntaxError, tables_read
    from akko_orchestrator.plan.sql_support import embedded_unsupported
    from akko_orchestrator.plan.statements import query_issues

    raw = _read(folder / file) if file else ""
    try:
        found = [(i.message, i.offset) for i in query_issues(sql)]
        refs = tables_read(sql)
    except SqlSyntaxError as exc:
        return [(f"compiled SQL does not parse as Trino: {exc.reason}", file, _line_in(raw, sql, None))]
    for ref in refs:
        if ref.catalog not in ("", LAKEHOUSE_SQL_CATALOG):
            found.append(
                (f"{ref.catalog}.{ref.namespace}.{ref.name} is not in the Iceberg lakehouse", ref.offset or 0)
            )
    if engine == "embedded":
        found += [(i.message, i.offset) for i in embedded_unsupported(sql)]
    return [(message, file, _line_in(raw, sql, offset)) for message, offset in found]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _line_in(raw: str, compiled: str, offset: int | None) -> int:
    """The line of the model file holding what is at `offset` of its compiled SQL (Jinja moves text around: the
    compiled line is looked up in the file), else 1."""
    if offset is None or not raw:
        return 1
    start = compiled.rfind("\n", 0, offset) + 1
    end = compiled.find("\n", offset)
    line = compiled[start : end if end >= 0 else None].strip()
    for number, text in enumerate(raw.splitlines(), start=1):
        if line and line in text.strip():
            return number
    token = compiled[offset : offset + 30].split("(")[0].strip()
    for number, text in enumerate(raw.splitlines(), start=1):
        if token and token in text:
            return number
    return 1


__all__ = ["DbtProblem", "graph_builder", "refresh_graphs"]
