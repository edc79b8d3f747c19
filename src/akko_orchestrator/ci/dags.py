"""`akko ci`'s DAG step: `akko sync`, then every DAG file (the pipelines' shims and the hand-written DAGs) imported
as Airflow's dag-processor imports it, in a separate process with AKKO's Airflow environment (ci/dag_worker.py),
so the cluster policies of the Airflow home's local settings judge every DAG. Each import error becomes a problem
at the line it names; each file's parse time is reported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from akko_orchestrator.ci.dag_worker import BUNDLE_NAME
from akko_orchestrator.ci.report import Problem, StepOutcome
from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.spec.validate import ValidationReport

_SPEC_LOCATION = re.compile(r"(?P<file>[\w./-]+\.(?:ya?ml|sql|py)):(?P<line>\d+):(?P<col>\d+): ")
_VIOLATION = re.compile(r"(?P<file>[\w./-]+\.py):(?P<line>\d+): \[[\w-]+\] ")  # guardrails/violations.py
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')
# Where a task or DAG is named in a DAG file or a spec: a cluster policy's refusal names its task or DAG, not a line.
_NAMED = (
    re.compile(r"""\btask_id\s*=\s*["'](?P<name>[^"']+)["']"""),
    re.compile(r"""^\s*-?\s*id:\s*["']?(?P<name>[\w.-]+)"""),
    re.compile(r"""(?:\bdag_id\s*=\s*|\bDAG\(\s*)["'](?P<name>[^"']+)["']"""),
    re.compile(r"""^pipeline:\s*["']?(?P<name>[\w.-]+)"""),
)
WORKER_TIMEOUT = 600  # seconds for every file together; Airflow's own timeout bounds each file


def hand_written_folders(project: Project) -> list[Path]:
    """akko.yaml's `dags` folders (default `dags/`) that exist: the hand-written DAGs the guardrails judge."""
    folders = []
    for entry in project.config.dags:
        folder = (project.root / entry.path).resolve()
        if folder.is_dir() and folder != project.dags_dir and folder not in folders:
            folders.append(folder)
    return folders


def parse_places(project: Project) -> list[tuple[str, str, str]]:
    """(folder to walk, bundle folder, bundle name) of each hand-written folder, as the dag-processor reaches it:
    through its link in AKKO's DAG folder (the `dags-folder` bundle), or in multi-team mode in its team's bundle
    folder (whose team the `dag-team` rule compares with the files' tags). The links are made here."""
    from akko_orchestrator.local_airflow.auth import team_dags_dir, team_mode
    from akko_orchestrator.local_airflow.dag_folders import link_dag_folders, link_name, link_team_folders

    if team_mode(project):
        bundles = {team: team_dags_dir(project, team) for team in project.config.teams}
        links = link_team_folders(project, bundles)
        return [
            (str(bundles[team] / name), str(bundles[team]), f"akko-{team}")
            for team, names in links.items()
            for name in names
        ]
    linked = link_dag_folders(project)
    return [
        (str(project.dags_dir / link_name(entry.path)), str(project.dags_dir), BUNDLE_NAME)
        for entry in project.config.dags
        if (project.root / entry.path).resolve() in linked
    ]


def dags_step(
    project: Project, report: ValidationReport, workers: int | None = None
) -> tuple[StepOutcome, list[Problem]]:
    from akko_orchestrator.compiler.shims import shim_name, sync_shims

    started = time.monotonic()
    sync_shims(project.pipelines_dir, project.dags_dir, project.root)
    specs = {  # shim -> spec, for specs `validate` passed (the others' problems are reported already)
        str(project.dags_dir / shim_name(project.root / display, project.pipelines_dir)): display
        for display in report.valid_files
    }
    folders = hand_written_folders(project)
    results = _import_all(project, sorted(specs), parse_places(project), workers)
    problems: list[Problem] = []
    timings: dict[str, float] = {}
    owners: dict[str, str] = {}
    for result in results:
        display = specs.get(result["file"]) or _display(project.root, result["file"])
        timings[display] = result["seconds"]
        for message in result["errors"].values():
            problems.append(_import_problem(project.root, display, result["file"], message))
        problems += _duplicates(display, result["dag_ids"], owners)
    detail = f"{len(results)} file(s) in {_where(project, folders)}"
    if timings:
        slowest = max(timings, key=timings.__getitem__)
        detail += f"; slowest {slowest} {timings[slowest]:.2f} s"
    status = "failed" if problems else "ok"
    return StepOutcome("dags", status, time.monotonic() - started, detail, timings), problems


def _import_all(
    project: Project, shims: list[str], places: list[tuple[str, str, str]], workers: int | None
) -> list[dict[str, Any]]:
    """The files' parse results, from the worker process (its output goes to a log only shown if it fails)."""
    from akko_orchestrator.local_airflow.environment import user_environ

    request = {
        "root": str(project.root),
        "profile": project.profile_name,
        "shim_folder": str(project.dags_dir),
        "shims": shims,
        "folders": places,
        "workers": workers,
    }
    with tempfile.TemporaryDirectory(prefix="akko-ci-") as tmp:
        request_file, result_file = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_file.write_text(json.dumps(request))
        command = [
            sys.executable,
            "-m",
            "akko_orchestrator.ci.dag_worker",
            str(request_file),
            str(result_file),
        ]
        done = subprocess.run(
            command, env=user_environ(), capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
        )
        if done.returncode != 0 or not result_file.is_file():
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise AkkoError(f"the DAG import process failed (exit {done.returncode}):\n{tail}")
        return json.loads(result_file.read_text())


def _import_problem(root: Path, display: str, path: str, message: str) -> Problem:
    """An Airflow import error at the place it names: a spec location (`file:line:col: `), else the deepest
    frame in the DAG file itself (or another file of the project), else the file's first line."""
    rule = _rule(message)
    text = _last_line(message)
    for match in _SPEC_LOCATION.finditer(message):
        if (root / match["file"]).is_file():
            text = message[match.end() :].strip().splitlines()[0]
            return Problem(match["file"], int(match["line"]), int(match["col"]), "dags", rule, text)
    for match in _VIOLATION.finditer(message):  # a guardrail names its line (the DAG call may span lines)
        if (root / match["file"]).resolve() == Path(path).resolve():
            return Problem(display, int(match["line"]), 1, "dags", rule, text)
    frames = [(Path(m["file"]), int(m["line"])) for m in _FRAME.finditer(message)]
    for file, line in reversed(frames):
        if file == Path(path):
            return Problem(display, line, 1, "dags", rule, text)
    for file, line in reversed(frames):
        if file.is_relative_to(root) and ".venv" not in file.parts:
            return Problem(
                _display(root, str(file)), line, 1, "dags", rule, f"{text} (imported by {display})"
            )
    line, column = _named_line(root / display, message)
    return Problem(display, line, column, "dags", rule, text)


def _named_line(path: Path, message: str) -> tuple[int, int]:
    """The line of the task (else the DAG) the message names, in the DAG file or spec; else the first line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1, 1
    for pattern in _NAMED:  # tasks first: a refused task's message often names its DAG too
        for number, line in enumerate(lines, 1):
            for match in pattern.finditer(line):
                if re.search(rf"(?<![\w.-]){re.escape(match['name'])}(?![\w.-])", message):
                    return number, match.start("name") + 1
    return 1, 1


def _rule(message: str) -> str:
    if "AirflowClusterPolicy" in message:
        return "policy"
    if "DagBag import timeout" in message:
        return "timeout"
    return "import"


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "import error"


def _duplicates(display: str, dag_ids: list[str], owners: dict[str, str]) -> Iterator[Problem]:
    """A dag_id defined by two files: Airflow keeps one of them, whichever it parsed last."""
    for dag_id in dag_ids:
        if dag_id in owners and owners[dag_id] != display:
            reason = f"dag_id '{dag_id}' is also defined in {owners[dag_id]} (a dag_id must be unique)"
            yield Problem(display, 1, 1, "dags", "duplicate-id", reason)
        owners.setdefault(dag_id, display)


def _display(root: Path, path: str) -> str:
    resolved = Path(path).resolve()
    return os.path.relpath(resolved, root) if resolved.is_relative_to(root) else path


def _where(project: Project, folders: list[Path]) -> str:
    places = ["pipelines", *(_display(project.root, str(f)) + "/" for f in folders)]
    return ", ".join(places)
