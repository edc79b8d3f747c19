"""`akko ci`'s spec steps: `akko validate`'s checks of every spec (spec/validate.py), then every spec against the
published JSON Schema (what editors use), and any copy of that schema the repo commits against this AKKO's."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

from akko_orchestrator.ci.report import Problem, StepOutcome
from akko_orchestrator.config.project import Project
from akko_orchestrator.spec.validate import ValidationReport, validate_path
from akko_orchestrator.spec.yaml_source import SpecSource

SCHEMA_FILE = Path("schemas") / "pipeline.schema.json"  # where `akko schema --output` is usually committed
# An editor modeline naming a local schema file: `# yaml-language-server: $schema=../schemas/x.json`
_MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(?P<ref>\S+)", re.MULTILINE)


def validate_step(project: Project) -> tuple[StepOutcome, list[Problem], ValidationReport]:
    """Every spec as `akko validate` checks it, except tables read that no pipeline writes: a CI runner has no
    lakehouse to ask whether they exist."""
    started = time.monotonic()
    report = validate_path(
        project.pipelines_dir,
        project.root,
        None,
        profile=project.profile_name,
        known_profiles=project.config.profiles,
        engine=project.profile.engine,
    )
    problems = [Problem.of_issue(issue, "validate", "spec") for issue in report.issues]
    detail = f"{len(report.valid_files)} of {len(report.files)} spec(s) valid"
    status = "failed" if problems else "ok"
    return StepOutcome("validate", status, time.monotonic() - started, detail), problems, report


def schema_step(project: Project, report: ValidationReport) -> tuple[StepOutcome, list[Problem]]:
    """Each valid spec against the JSON Schema (specs `validate` refused are reported there already), and each
    schema file the repo commits (schemas/pipeline.schema.json, editor modelines) against the current one."""
    from jsonschema import Draft202012Validator  # Airflow's dependency; deferred like every heavy import

    from akko_orchestrator.spec.schema import json_schema

    started = time.monotonic()
    schema = json_schema()
    validator = Draft202012Validator(schema)
    problems: list[Problem] = []
    committed: set[Path] = set()
    for display in report.valid_files:
        source = SpecSource.read(project.root / display, display)
        problems += _schema_problems(validator, source)
        committed |= _modeline_schemas(source)
    if (project.root / SCHEMA_FILE).is_file():
        committed.add((project.root / SCHEMA_FILE).resolve())
    for path in sorted(committed):
        problems += _stale_schema(project.root, path, schema)
    detail = f"{len(report.valid_files)} spec(s), {len(committed)} committed schema file(s)"
    return StepOutcome("schema", "failed" if problems else "ok", time.monotonic() - started, detail), problems


def _schema_problems(validator: Any, source: SpecSource) -> list[Problem]:
    problems = []
    for error in sorted(validator.iter_errors(_jsonable(source.data)), key=lambda e: list(e.absolute_path)):
        issue = source.issue(tuple(error.absolute_path), error.message)
        problems.append(Problem.of_issue(issue, "schema", error.validator or "schema"))
    return problems


def _jsonable(value: Any) -> Any:
    """The YAML document as JSON would hold it (a YAML date is a string in JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _modeline_schemas(source: SpecSource) -> set[Path]:
    found = set()
    for match in _MODELINE.finditer(source.text):
        ref = match.group("ref")
        if "://" not in ref:
            path = (source.path.parent / ref).resolve()
            if path.is_file():
                found.add(path)
    return found


def _stale_schema(root: Path, path: Path, schema: dict[str, Any]) -> list[Problem]:
    display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        current = json.loads(path.read_text(encoding="utf-8")) == schema
        reason = "differs from this AKKO's spec schema"
    except (OSError, ValueError) as exc:
        current, reason = False, f"is not readable JSON ({exc})"
    if current:
        return []
    fix = f"regenerate it: akko schema --output {display}"
    return [Problem(display, 1, 1, "schema", "stale", f"{reason}; {fix}")]
