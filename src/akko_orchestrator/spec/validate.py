"""`akko validate`: every spec in a folder, plus cross-pipeline checks (duplicate ids, tables nobody writes), the
files specs read against the project's path rule (config/paths.py), and each pipeline against its team's namespaces
and connections (akko.yaml `teams`, config/tenancy.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from akko_orchestrator.config.models import ProjectConfig
from akko_orchestrator.config.paths import PathRule, local_files
from akko_orchestrator.config.project import PROJECT_FILE, Project, load_project
from akko_orchestrator.config.tenancy import Tenancy
from akko_orchestrator.dbt.sync import graph_builder
from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.plan.model import Plan
from akko_orchestrator.plan.sql_parse import parsing_once
from akko_orchestrator.plan.sql_refs import tables_read
from akko_orchestrator.plan.sql_text import SqlText, sql_issue, step_sql_texts
from akko_orchestrator.spec.loader import find_spec_files, load_spec
from akko_orchestrator.spec.models import (
    AssetSchedule,
    IngestStep,
    Pipeline,
    PythonStep,
    SparkStep,
    SqlStep,
    Step,
)
from akko_orchestrator.spec.project_context import ContextSpec, project_context
from akko_orchestrator.spec.yaml_source import SpecSource


@dataclass
class ValidationReport:
    plans: dict[str, Plan] = field(default_factory=dict)  # display path -> plan
    issues: list[SpecIssue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # spec files (display paths) with at least one issue
    crashes: list[BaseException] = field(default_factory=list)  # unexpected errors (`--debug` shows them)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def invalid_files(self) -> list[str]:
        """Spec files with issues (an issue may sit in a .sql file a spec uses: the spec is what is invalid)."""
        return sorted(self.failed | {issue.file for issue in self.issues if issue.file in self.files})

    @property
    def valid_files(self) -> list[str]:
        invalid = set(self.invalid_files)
        return [f for f in self.files if f not in invalid]

    def add(self, spec: str, issues: list[SpecIssue]) -> None:
        self.issues.extend(issues)
        if issues:
            self.failed.add(spec)


def validate_path(
    path: Path,
    root: Path,
    table_exists: Callable[[str], bool] | None = None,
    profile: str | None = None,
    known_profiles: Collection[str] | None = None,
    engine: str | None = None,
) -> ValidationReport:
    """Validate every spec under `path` for `profile` (None: every step). `table_exists` answers for tables no
    pipeline writes (None: skip); `known_profiles` are akko.yaml's, which steps' `profiles` must name.

    The specs are judged against the whole project: the project's other specs (under akko.yaml's `pipelines`)
    are read for what they write and their ids, and only the specs under `path` are reported on."""
    report = ValidationReport()
    sources: dict[str, SpecSource] = {}
    root = root.resolve()
    project = _project(root, profile)
    checked = _Checked(PathRule.of(project), Tenancy.of(project.config), profile, engine, known_profiles)
    targets = find_spec_files(path)
    with parsing_once():  # a text read by several checks (or files) is parsed once
        for spec in targets:
            display = _display(spec, root)
            report.files.append(display)
            try:
                _validate_file(spec, display, checked, report, sources)
            except SpecError as exc:
                report.add(display, exc.issues)
            except Exception as exc:  # noqa: BLE001 - one file AKKO cannot judge never hides the others
                report.add(display, [_failed(display, exc)])
                report.crashes.append(exc)
        others = project_context(project, {spec.resolve() for spec in targets}, root, profile)
        _check_duplicate_ids(report, sources, others)
        _check_tables_read(report, sources, table_exists, others)
    return report


@dataclass(frozen=True)
class _Checked:
    """What every file is judged against."""

    paths: PathRule
    tenancy: Tenancy
    profile: str | None
    engine: str | None
    known_profiles: Collection[str] | None


def _validate_file(
    spec: Path, display: str, checked: _Checked, report: ValidationReport, sources: dict[str, SpecSource]
) -> None:
    pipeline, source = load_spec(spec, display)
    report.add(display, _paths_outside(pipeline, source, checked.paths))
    report.plans[display] = build_plan(
        pipeline,
        source,
        profile=checked.profile,
        engine=checked.engine,
        dbt_graphs=graph_builder(checked.engine, compile=True, team=pipeline.team),
        tenancy=checked.tenancy,
    )
    sources[display] = source
    if checked.known_profiles is not None:
        report.add(display, _unknown_profiles(pipeline, source, checked.known_profiles))


def _display(spec: Path, root: Path) -> str:
    resolved = spec.resolve()
    return os.path.relpath(resolved, root) if resolved.is_relative_to(root) else str(spec)


def _failed(display: str, exc: BaseException) -> SpecIssue:
    """An error AKKO did not expect while judging a file: the file is invalid, the others are still judged."""
    what = f"{type(exc).__name__}: {exc}"
    what = what if len(what) <= 200 else what[:200] + "..."
    reason = f"AKKO could not validate this file ({what})"
    return SpecIssue(display, None, None, "", reason, f"`akko --debug validate {display}` shows where")


def _project(root: Path, profile: str | None) -> Project:
    """`root`'s akko.yaml (for `profile`, else its default), or a project's defaults: what specs may read, and
    the teams."""
    if (root / PROJECT_FILE).is_file():
        return load_project(root, profile)
    return Project(root=root, config=ProjectConfig(), profile_name="local")


def _paths_outside(pipeline: Pipeline, source: SpecSource, paths: PathRule) -> list[SpecIssue]:
    """Each `files` of a step of this profile that reads outside the project, the object store and
    `allowed_paths`, or what is never a source (AKKO's state, the warehouse, another team's files): as written
    (a glob: its base folder), then every file it matches now (symlinks)."""
    issues = []
    paths = paths.for_team(pipeline.team)
    for loc, written in _file_locations(pipeline, paths.profile):
        outside = paths.first_outside(written, local_files(paths.resolve(written)))
        if outside is not None:
            issues.append(source.issue(loc, paths.reason(outside), outside.hint))
    return issues


def _file_locations(pipeline: Pipeline, profile: str) -> Iterator[tuple[tuple, str]]:
    """(field path, `files`) of the steps that run on `profile` (others resolve against another store)."""
    if pipeline.profiles is not None and profile not in pipeline.profiles:
        return
    for index, step in enumerate(pipeline.steps):
        if step.profiles is not None and profile not in step.profiles:
            continue
        if isinstance(step, IngestStep) and step.source.files is not None:
            yield ("steps", index, "source", "files"), step.source.files
        elif isinstance(step, SparkStep):
            for name, spark_source in step.sources.items():
                if spark_source.files is not None:
                    yield ("steps", index, "sources", name, "files"), spark_source.files


def _unknown_profiles(pipeline: Pipeline, source: SpecSource, known: Collection[str]) -> list[SpecIssue]:
    places: list[tuple[tuple, list[str] | None]] = [((), pipeline.profiles)]
    places += [(("steps", index), step.profiles) for index, step in enumerate(pipeline.steps)]
    issues = []
    for prefix, names in places:
        for position, name in enumerate(names or ()):
            if name not in known:
                reason = f"unknown profile '{name}'"
                hint = f"profiles in akko.yaml: {', '.join(sorted(known))}"
                issues.append(source.issue((*prefix, "profiles", position), reason, hint))
    return issues


def _check_duplicate_ids(
    report: ValidationReport, sources: dict[str, SpecSource], others: list[ContextSpec]
) -> None:
    """The later file (in sorted order, the project's other specs included) of two with one id is invalid."""
    ids = sorted(
        [(d, p.pipeline.pipeline) for d, p in report.plans.items()] + [(o.display, o.id) for o in others]
    )
    first: dict[str, str] = {}
    for display, pipeline_id in ids:
        if pipeline_id in first and display in report.plans:
            reason = f"duplicate pipeline id '{pipeline_id}' (also in {first[pipeline_id]})"
            hint = "a pipeline id is its Airflow dag_id and must be unique: rename one"
            report.add(display, [sources[display].issue(("pipeline",), reason, hint)])
        first.setdefault(pipeline_id, display)


def _check_tables_read(
    report: ValidationReport,
    sources: dict[str, SpecSource],
    table_exists: Callable[[str], bool] | None,
    others: list[ContextSpec],
) -> None:
    if table_exists is None:
        return
    written = {t for plan in report.plans.values() for t in plan.tables_written}
    written |= {t for other in others for t in other.writes}
    for display, plan in report.plans.items():
        missing = {t for t in _tables_read(plan) if t not in written and not table_exists(t)}
        if missing:
            report.add(display, _missing_table_issues(plan, sources[display], missing))


def _tables_read(plan: Plan) -> set[str]:
    on = plan.pipeline.schedule.on if isinstance(plan.pipeline.schedule, AssetSchedule) else []
    return {*on, *(t for step in plan.steps for t in step.reads)}


def _missing_table_issues(plan: Plan, source: SpecSource, missing: set[str]) -> list[SpecIssue]:
    """One issue per place a missing table is read, located on the table name itself."""
    reason = "table {} is read but no pipeline writes it and it does not exist"
    hint = "add a step that writes it, or fix the name"
    issues = []
    if isinstance(plan.pipeline.schedule, AssetSchedule):
        for i, table in enumerate(plan.pipeline.schedule.on):
            if table in missing:
                issues.append(source.issue(("schedule", "on", i), reason.format(table), hint))
    for index, step in enumerate(plan.pipeline.steps):
        for loc_or_sql, offset, table in _reads_located(source, index, step):
            if table not in missing:
                continue
            if isinstance(loc_or_sql, SqlText):
                issues.append(sql_issue(source, loc_or_sql, offset, reason.format(table), hint))
            else:
                issues.append(source.issue(loc_or_sql, reason.format(table), hint))
    return issues


def _check_reads_located(index: int, checks: list) -> list[tuple[tuple | SqlText, int | None, str]]:
    found: list[tuple[tuple | SqlText, int | None, str]] = []
    for position, check in enumerate(checks):
        at = ("steps", index, "checks", position)
        if check.relationships is not None:
            found.append(((*at, "relationships", "to"), None, check.relationships.to))
        if check.sql is not None:
            sql = SqlText(check.sql, (*at, "sql"))
            found += [(sql, ref.offset, ref.qualified) for ref in tables_read(check.sql)]
    return found


def _reads_located(
    source: SpecSource, index: int, step: Step
) -> list[tuple[tuple | SqlText, int | None, str]]:
    """(where, offset in SQL, table) for every table a step reads (python `inputs`, SQL references, and its
    checks: a relationship's `to`, a `sql` check's references)."""
    found = _check_reads_located(index, getattr(step, "checks", None) or [])
    if isinstance(step, PythonStep | SparkStep):
        return found + [(("steps", index, "inputs", i), None, t) for i, t in enumerate(step.inputs)]
    if not isinstance(step, SqlStep):
        return found
    for sql in step_sql_texts(source, index, step):
        for ref in tables_read(sql.text):  # the plan was built, so every text parses
            found.append((sql, ref.offset, ref.qualified))
    return found
