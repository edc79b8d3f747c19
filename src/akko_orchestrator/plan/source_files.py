"""Project files a step reads (`./data/*.csv`, `../shared/x.parquet`) that match nothing: refused at `files`, with
what the folder holds. Only paths relative to the project folder are judged: they ship with the project, whereas
object-store keys (`raw/x/*.csv`) and URIs may appear at run time. Whether a path may be read at all is
config/paths.py's rule (`akko validate`, and the running step). Imports neither Airflow nor engines.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from akko_orchestrator.errors import SpecIssue
from akko_orchestrator.spec.models import IngestStep, Pipeline, SparkStep, Step
from akko_orchestrator.spec.yaml_source import SpecSource

PROJECT_RELATIVE = ("./", "../")
SHOWN = 5  # files of the folder named in a hint


def missing_file_issues(
    pipeline: Pipeline, source: SpecSource, runs_here: Callable[[Step], bool]
) -> list[SpecIssue]:
    """Each project-relative `files` of a step of this profile that matches no file now."""
    located = list(_project_files(pipeline, runs_here))
    if not located:
        return []
    from akko_orchestrator.config.project import find_root

    root = find_root(source.path.parent)
    issues = []
    for loc, files in located:
        path = os.path.normpath(root / files)
        matches = (
            glob.glob(path, recursive=True)
            if glob.has_magic(path)
            else [path]
            if os.path.exists(path)
            else []
        )
        if not matches:
            what = "matches no file" if glob.has_magic(path) else "is no file"
            reason = f"{files!r} {what} (paths starting with ./ are relative to the project folder, {root})"
            issues.append(source.issue(loc, reason, _hint(files, path, source.path.parent, root)))
    return issues


def _project_files(pipeline: Pipeline, runs_here: Callable[[Step], bool]) -> Iterator[tuple[tuple, str]]:
    for index, step in enumerate(pipeline.steps):
        if not runs_here(step):
            continue
        if isinstance(step, IngestStep) and (step.source.files or "").startswith(PROJECT_RELATIVE):
            yield ("steps", index, "source", "files"), str(step.source.files)
        elif isinstance(step, SparkStep):
            for name, spark_source in step.sources.items():
                if (spark_source.files or "").startswith(PROJECT_RELATIVE):
                    yield ("steps", index, "sources", name, "files"), str(spark_source.files)


def _hint(files: str, path: str, spec_folder: Path, root: Path) -> str:
    beside_spec = os.path.normpath(spec_folder / files)
    if glob.glob(beside_spec) if glob.has_magic(beside_spec) else os.path.exists(beside_spec):
        return f"it is there from the spec's folder: write './{os.path.relpath(beside_spec, root)}'"
    folder = _existing_folder(path)
    try:
        names = sorted(e.name for e in os.scandir(folder) if not e.name.startswith("."))
    except OSError:
        names = []
    if not names:
        return f"{folder} holds no file: add the files, or fix the path"
    import difflib  # deferred: only error messages need it

    close = difflib.get_close_matches(os.path.basename(path), names, n=1)
    if close and not glob.has_magic(os.path.basename(path)):
        return f"did you mean {os.path.join(os.path.dirname(files), close[0])!r}?"
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{folder} holds {', '.join(names[:SHOWN])}{more}"


def _existing_folder(path: str) -> str:
    folder = os.path.dirname(path)
    while glob.has_magic(folder) or not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder
