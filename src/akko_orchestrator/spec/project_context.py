"""The project's other specs, as context when `akko validate` judges some of them (one file, a subfolder): their
pipeline ids and the tables they write, so a spec that reads another pipeline's table is valid alone as it is in
the whole project. Read without planning them (no SQL parsed; a dbt step's graph as stored); a spec that does not
load is left out (its own validation reports it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from akko_orchestrator.config.project import Project
from akko_orchestrator.spec.loader import find_spec_files, load_spec
from akko_orchestrator.spec.models import DbtStep, Pipeline


@dataclass(frozen=True)
class ContextSpec:
    display: str  # as validation shows files: relative to the project folder
    id: str
    writes: frozenset[str]  # tables its steps of the profile write


def project_context(
    project: Project, exclude: set[Path], root: Path, profile: str | None
) -> list[ContextSpec]:
    """Every spec under the project's `pipelines` folder but those in `exclude` (resolved paths)."""
    folder = project.pipelines_dir
    if not folder.is_dir():
        return []
    found = []
    for spec in find_spec_files(folder):
        resolved = spec.resolve()
        if resolved in exclude:
            continue
        display = os.path.relpath(resolved, root) if resolved.is_relative_to(root) else str(spec)
        try:
            pipeline, _ = load_spec(spec, display)
            writes = frozenset(_writes(pipeline, spec, profile))
        except Exception:  # noqa: BLE001 - a broken spec is context for nothing; its own validation says why
            continue
        found.append(ContextSpec(display, pipeline.pipeline, writes))
    return found


def _writes(pipeline: Pipeline, spec: Path, profile: str | None) -> set[str]:
    """The tables the pipeline's steps of `profile` write (as its plan's `tables_written` would list them)."""
    if profile is not None and pipeline.profiles is not None and profile not in pipeline.profiles:
        return set()
    tables: set[str] = set()
    for step in pipeline.steps:
        if profile is not None and step.profiles is not None and profile not in step.profiles:
            continue
        if isinstance(step, DbtStep):
            tables |= _dbt_tables(step, pipeline, spec)
        elif getattr(step, "output", None) is not None:
            tables.add(step.output.table)  # type: ignore[union-attr]
    return tables


def _dbt_tables(step: DbtStep, pipeline: Pipeline, spec: Path) -> set[str]:
    from akko_orchestrator.plan import dbt_steps

    folder = dbt_steps.project_folder(spec, step)
    found = dbt_steps.stored_graph(step, folder, dbt_steps.default_schema(step, pipeline))
    return set(found.graph.tables) if found.graph is not None else set()
