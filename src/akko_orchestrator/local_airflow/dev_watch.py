"""`akko dev` follows the project while Airflow runs: spec files added, removed or edited, files they include, a
dbt project's files (its graph is rebuilt first, so the re-parsed DAG finds it current) and akko.yaml; each change
touches the shims concerned so the dag-processor re-parses them at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console

from akko_orchestrator.compiler.shims import MARKER, shim_name, sync_shims
from akko_orchestrator.config.project import PROJECT_FILE, Project
from akko_orchestrator.spec.loader import SPEC_SUFFIXES


def watch(project: Project, check: Callable[[], None], stop, poll: float, out: Console) -> None:
    """Until `stop` is set: `check()` (a dead component fails loudly) and follow the project's files."""
    seen = _snapshot(project)
    while not stop.wait(poll):
        check()
        now = _snapshot(project)
        if now != seen:
            _on_change(project, seen, now, out)
            seen = now


def _snapshot(project: Project) -> dict[Path, float]:
    """Modification times of what a parse reads: spec files, files they include (.sql) and akko.yaml."""
    files = [
        p
        for p in project.pipelines_dir.rglob("*")
        if p.suffix != ".py" and not _GENERATED.intersection(p.parts)
    ]
    files.append(project.root / PROJECT_FILE)
    snapshot = {}
    for path in files:
        try:
            if path.is_file():
                snapshot[path] = path.stat().st_mtime
        except OSError:
            continue  # removed while scanning
    return snapshot


# What tools write under the pipelines folder (dbt's target/ and logs/, where AKKO also keeps dbt graphs): not edits.
_GENERATED = frozenset({"__pycache__", "target", "logs", "dbt_packages"})


def _on_change(project: Project, before: dict[Path, float], after: dict[Path, float], out: Console) -> None:
    specs_before = {p for p in before if p.suffix in SPEC_SUFFIXES}
    specs_after = {p for p in after if p.suffix in SPEC_SUFFIXES}
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    if any(_in_dbt_project(p) for p in changed):
        sync_shims(project.pipelines_dir, project.dags_dir, project.root)  # rebuilds the changed dbt graphs
        _touch(project.dags_dir.glob("*.py"))
    if specs_before != specs_after:
        result = sync_shims(project.pipelines_dir, project.dags_dir, project.root)
        for shim in result.written:
            out.print(f"+ pipeline file {shim.stem} (parsing)")
        for shim in result.removed:
            out.print(f"- pipeline file {shim.stem}")
    edited = {p for p in before.keys() & after.keys() if before[p] != after[p]}
    if any(p.suffix not in SPEC_SUFFIXES for p in edited):
        _touch(project.dags_dir.glob("*.py"))  # an included .sql file or akko.yaml may change any pipeline
    else:
        _touch(project.dags_dir / shim_name(p, project.pipelines_dir) for p in edited)
    for path in sorted(edited):
        out.print(f"~ {os.path.relpath(path, project.root)} changed (re-parsing)", soft_wrap=True)


def _in_dbt_project(path: Path) -> bool:
    return any((folder / "dbt_project.yml").is_file() for folder in path.parents)


def _touch(shims: Iterable[Path]) -> None:
    """The dag-processor re-parses a file newer than its last parse at once, instead of on its interval."""
    for shim in shims:
        try:
            if shim.read_text().startswith(MARKER):
                os.utime(shim)
        except OSError:
            continue


# Signals and the REST API -----------------------------------------------------------------------------------------
