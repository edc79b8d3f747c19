"""`akko validate`: every spec in a folder, plus cross-pipeline checks (duplicate ids, tables nobody writes)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.plan.builder import Plan, build_plan
from akko_orchestrator.spec.loader import find_spec_files, load_spec
from akko_orchestrator.spec.models import AssetSchedule
from akko_orchestrator.spec.yaml_source import SpecSource


@dataclass
class ValidationReport:
    plans: dict[str, Plan] = field(default_factory=dict)  # display path -> plan
    issues: list[SpecIssue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def invalid_files(self) -> list[str]:
        return sorted({issue.file for issue in self.issues})


def validate_path(
    path: Path, root: Path, table_exists: Callable[[str], bool] | None = None
) -> ValidationReport:
    """Validate every spec under `path`. `table_exists` answers for tables no pipeline writes (None: skip)."""
    report = ValidationReport()
    sources: dict[str, SpecSource] = {}
    for spec in find_spec_files(path):
        display = os.path.relpath(spec, root) if spec.resolve().is_relative_to(root) else str(spec)
        report.files.append(display)
        try:
            pipeline, source = load_spec(spec, display)
            report.plans[display] = build_plan(pipeline, source)
            sources[display] = source
        except SpecError as exc:
            report.issues.extend(exc.issues)
    _check_duplicate_ids(report, sources)
    _check_tables_read(report, sources, table_exists)
    return report


def _check_duplicate_ids(report: ValidationReport, sources: dict[str, SpecSource]) -> None:
    first: dict[str, str] = {}
    for display, plan in report.plans.items():
        pipeline_id = plan.pipeline.pipeline
        if pipeline_id in first:
            reason = f"duplicate pipeline id '{pipeline_id}' (also in {first[pipeline_id]})"
            report.issues.append(sources[display].issue(("pipeline",), reason))
        first.setdefault(pipeline_id, display)


def _check_tables_read(
    report: ValidationReport, sources: dict[str, SpecSource], table_exists: Callable[[str], bool] | None
) -> None:
    written = {t for plan in report.plans.values() for t in plan.tables_written}
    for display, plan in report.plans.items():
        for loc, table in _reads_with_locations(plan):
            if table in written or table_exists is None or table_exists(table):
                continue
            reason = f"table {table} is read but no pipeline writes it and it does not exist"
            report.issues.append(
                sources[display].issue(loc, reason, "add a step that writes it, or fix the name")
            )


def _reads_with_locations(plan: Plan) -> list[tuple[tuple, str]]:
    found: list[tuple[tuple, str]] = []
    if isinstance(plan.pipeline.schedule, AssetSchedule):
        found += [(("schedule", "on", i), t) for i, t in enumerate(plan.pipeline.schedule.on)]
    index = {step.id: i for i, step in enumerate(plan.pipeline.steps)}
    for planned in plan.steps:
        loc_field = (
            "inputs"
            if planned.kind == "python"
            else ("queries" if getattr(planned.step, "queries", None) else "sql")
        )
        if planned.kind == "sql" and getattr(planned.step, "file", None):
            loc_field = "file"
        found += [(("steps", index[planned.id], loc_field), t) for t in planned.reads]
    return found
