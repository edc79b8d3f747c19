"""`akko ci` in order: specs (validate), JSON Schema, DAG imports, pipeline tests. Validation always runs: the
later steps build on what it found (specs it refused are not reported again)."""

from __future__ import annotations

from collections.abc import Collection

from akko_orchestrator.ci.dags import dags_step
from akko_orchestrator.ci.pipeline_tests import tests_step
from akko_orchestrator.ci.report import CiReport, StepOutcome
from akko_orchestrator.ci.specs import schema_step, validate_step
from akko_orchestrator.config.project import Project

SKIPPABLE = ("schema", "dags", "tests")


def run_ci(project: Project, skip: Collection[str] = (), workers: int | None = None) -> CiReport:
    report = CiReport()
    outcome, problems, validation = validate_step(project)
    report.steps.append(outcome)
    report.problems += problems
    steps = {
        "schema": lambda: schema_step(project, validation),
        "dags": lambda: dags_step(project, validation, workers),
        "tests": lambda: tests_step(project),
    }
    for name, step in steps.items():
        if name in skip:
            report.steps.append(StepOutcome(name, "skipped", 0.0, "--skip"))
            continue
        outcome, problems = step()
        report.steps.append(outcome)
        report.problems += problems
    return report
