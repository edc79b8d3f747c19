"""A dbt step in the plan: its graph (selected models and seeds), the tables it reads and writes, and the issues of
its project, located in the spec or in the dbt project's files.

At DAG parse time the graph comes from the file `akko sync` / `akko validate` stored next to the project, checked
against the project's fingerprint; dbt itself never runs here. `akko validate` passes a provider that (re)builds the
graph with dbt when the project changed (`dbt/manifest.py`). Imports neither Airflow nor engines nor dbt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from akko_orchestrator.dbt.graph import DbtGraph, read_graph
from akko_orchestrator.dbt.project import DbtProjectError, fingerprint, graph_path, load_project
from akko_orchestrator.spec.models import DbtStep, Pipeline

# Jinja in a model file: `{{ expression }}` (a ref, a source, a macro's output), and what renders to nothing:
# `{% statement %}`, `{# comment #}`, `{{ config(...) }}`.
_JINJA_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_JINJA_OTHER = re.compile(r"\{%.*?%\}|\{#.*?#\}|\{\{-?\s*config\(.*?\)\s*-?\}\}", re.DOTALL)
STALE = "its graph is missing or older than the project: run `akko sync` (or `akko validate`), which builds it with dbt"


@dataclass
class DbtLookup:
    """A dbt step's graph, or why there is none: messages located at `file:line` of the dbt project (file relative
    to the project folder) or, without a file, at the step's `project` field."""

    graph: DbtGraph | None = None
    problems: list[tuple[str, str | None, int | None]] = field(default_factory=list)  # (message, file, line)


GraphProvider = Callable[[DbtStep, Path, str], DbtLookup]  # (step, project folder, default schema)


def project_folder(spec_file: Path, step: DbtStep) -> Path:
    return (spec_file.parent / step.project).resolve()


def default_schema(step: DbtStep, pipeline: Pipeline) -> str:
    return step.namespace or pipeline.team


def selection(step: DbtStep, schema: str) -> dict:
    """What, besides the project's files, decides the step's graph: its selection, schema and vars (a var can
    enable a model, name its schema or choose what it refs). Keys the stored graph and is in its fingerprint."""
    vars = json.loads(json.dumps(step.vars, sort_keys=True, default=str))  # a YAML date: its text
    return {"select": list(step.select), "exclude": list(step.exclude), "schema": schema, "vars": vars}


def stored_graph(step: DbtStep, folder: Path, schema: str) -> DbtLookup:
    """Parse time: the stored graph if it is of the project as it is now."""
    try:
        project = load_project(folder)
    except DbtProjectError as exc:
        return DbtLookup(problems=[(str(exc), None, None)])
    chosen = selection(step, schema)
    path, current = graph_path(project, chosen), fingerprint(project, chosen)
    graph = read_graph(path)
    if graph is not None and graph.fingerprint == current:
        return DbtLookup(graph)
    from akko_orchestrator.dbt.manifest import stored_problems  # no dbt import: it reads a JSON file

    found = stored_problems(path, current)
    if found:
        return DbtLookup(problems=[(p.message, p.file, p.line) for p in found])
    return DbtLookup(problems=[(f"dbt project {project.name}: {STALE}", None, None)])


def display_path(spec_display: str, spec_file: Path, folder: Path, file: str) -> str:
    """A file of the dbt project as messages show it: relative like the spec's display path."""
    relative = os.path.relpath(folder / file, spec_file.parent)
    return os.path.normpath(os.path.join(os.path.dirname(spec_display), relative))


def written_reads(folder: Path, graph: DbtGraph, cache: MutableMapping[str, list[str]]) -> set[str]:
    """Lakehouse tables the selected models name in their SQL themselves (`from banking.accounts`), beside their
    `ref()`s and `source()`s, which the graph has: they are read like sources (the step waits for their writers, its
    team must be allowed to read them). Found on the model file's SQL with its Jinja blanked out (a `{{ ... }}`
    becomes a placeholder name, statements and comments nothing: rendering needs dbt, which parse time must not
    run); a file that does not parse then is left to dbt's own compile. Memoised in `cache` by the file's text."""
    tables: set[str] = set()
    for node in graph.nodes:
        if node.resource_type != "model":
            continue
        try:
            text = (folder / node.file).read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        key = "dbt-reads:" + hashlib.sha256(text.encode()).hexdigest()[:32]
        if key not in cache:
            cache[key] = _named_tables(text)
        tables.update(cache[key])
    return tables


def _named_tables(model: str) -> list[str]:
    from akko_orchestrator.plan.sql_refs import SqlSyntaxError, tables_read

    sql = _JINJA_EXPRESSION.sub(" _akko_jinja ", _JINJA_OTHER.sub(" ", model))
    try:
        return sorted({ref.qualified for ref in tables_read(sql) if ref.namespace})
    except SqlSyntaxError:
        return []
