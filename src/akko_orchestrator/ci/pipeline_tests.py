"""`akko ci`'s test step: the project's pipeline tests (akko.yaml `ci.tests`, default `tests/`) run by pytest in a
separate process (a test's imports and lakehouses stay out of this one), each failure located at its line."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from akko_orchestrator.ci.report import Problem, StepOutcome
from akko_orchestrator.ci.settings import CiSettings
from akko_orchestrator.config.project import Project

NO_TESTS = 5  # pytest's exit status when it collected nothing
TESTS_TIMEOUT = 3600


def tests_step(project: Project) -> tuple[StepOutcome, list[Problem]]:
    settings: CiSettings = getattr(project.config, "ci", None) or CiSettings()
    targets = [t for t in settings.tests if (project.root / t).exists()]
    if not targets:
        wanted = ", ".join(f"{t}/" for t in settings.tests)
        return StepOutcome("tests", "skipped", 0.0, f"no pipeline tests ({wanted} not found)"), []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="akko-ci-tests-") as tmp:
        report_file = Path(tmp) / "report.json"
        done = _pytest(project, targets, settings.pytest_args, report_file)
        found = json.loads(report_file.read_text()) if report_file.is_file() else None
    seconds = time.monotonic() - started
    if found is None:  # pytest stopped before its session ended (bad arguments, a broken conftest plugin)
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        problem = Problem(targets[0], 1, 1, "tests", "pytest", f"pytest exited {done.returncode}: {tail}")
        return StepOutcome("tests", "failed", seconds, "pytest did not run"), [problem]
    counts = found["counts"]
    if found["exit"] == NO_TESTS:
        return StepOutcome("tests", "skipped", seconds, f"no tests collected in {', '.join(targets)}"), []
    problems = [
        Problem(_display(project.root, f["file"]), f["line"], 1, "tests", f["test"], f["message"])
        for f in found["failures"]
    ]
    if found["exit"] not in (0, 1) and not problems:  # interrupted, internal error, usage error
        problems.append(Problem(targets[0], 1, 1, "tests", "pytest", f"pytest exited {found['exit']}"))
    detail = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    return StepOutcome("tests", "failed" if problems else "ok", seconds, detail), problems


def _pytest(
    project: Project, targets: list[str], args: list[str], report_file: Path
) -> subprocess.CompletedProcess[str]:
    from akko_orchestrator.local_airflow.environment import user_environ

    command = [
        sys.executable,
        "-m",
        "pytest",
        *targets,
        "-q",
        "-p",
        "akko_orchestrator.ci.pytest_plugin",
        "-p",
        "no:cacheprovider",
        *args,
    ]
    env = {**user_environ(), "AKKO_CI_PYTEST_REPORT": str(report_file)}
    return subprocess.run(
        command, cwd=project.root, env=env, capture_output=True, text=True, timeout=TESTS_TIMEOUT, check=False
    )


def _display(root: Path, file: str) -> str:
    path = Path(file)
    if path.is_absolute() and path.is_relative_to(root):
        return str(path.relative_to(root))
    return file
