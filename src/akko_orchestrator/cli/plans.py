"""What several commands need to know about a pipeline and its tables: its plan for the active profile, its
steps' checks and dependencies, and the state of a table's main or of a branch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError, SpecError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.plan.model import Plan


def main_state(catalog: Catalog, table_name: str) -> tuple[int, int] | None:
    """(snapshot id, rows) of a table's main, None if the table or its main does not exist."""
    if not catalog.table_exists(table_name):
        return None
    snapshot = catalog.load_table(table_name).current_snapshot()
    if snapshot is None:
        return None
    summary = snapshot.summary
    return snapshot.snapshot_id, int(summary.get("total-records", 0)) if summary else 0


def branch_head(catalog: Catalog, table_name: str, branch: str) -> tuple[int, int | None] | None:
    from akko_orchestrator.lakehouse.inspect import branches

    if not catalog.table_exists(table_name):
        return None
    info = next((b for b in branches(catalog.load_table(table_name)) if b.name == branch), None)
    return (info.snapshot_id, info.rows) if info is not None else None


def step_checks(planned: Any) -> list[Any]:
    """The `checks:` of a planned step (steps without an output have none)."""
    return list(getattr(planned.step, "checks", None) or [])


def pipeline_plan(project: Project, pipeline: str) -> Plan:
    """`pipeline`'s plan for the active profile, planned as its DAG is (`compile_plan`: spec, then plan)."""
    from akko_orchestrator.compiler.entry import compile_plan
    from akko_orchestrator.spec.loader import find_spec_files
    from akko_orchestrator.spec.yaml_source import SpecSource

    known = []
    for spec in find_spec_files(project.pipelines_dir):
        try:
            data = SpecSource.read(spec).data
        except (SpecError, OSError, ValueError):  # another spec's problem; `akko validate` reports it
            continue
        if isinstance(data, dict) and data.get("pipeline"):
            known.append(str(data["pipeline"]))
            if data["pipeline"] == pipeline:
                return compile_plan(spec, project.root, profile=project.profile_name)
    raise AkkoError(
        f"no pipeline '{pipeline}' in {project.pipelines_dir} (pipelines: {', '.join(sorted(known))})"
    )


def downstream(plan: Plan, step_id: str) -> set[str]:
    """Steps that depend on `step_id`, directly or not."""
    found: set[str] = set()
    for step in plan.steps:  # topological order: upstream steps are seen first
        if step_id in step.upstream or found.intersection(step.upstream):
            found.add(step.id)
    return found
