"""Hand-written DAG folders (akko.yaml `dags`, default `dags/`) inside AKKO's DAG folder, beside the shims.

AKKO's DAG folder is its own (`<state>/dags`, rewritten by `akko sync`), so each hand-written folder is linked into
it as `hand_written__<folder>`: the dag-processor follows links (os.walk with followlinks) and parses those files
like any other, under AKKO's cluster policies; a file added to the folder is seen without any sync. Links of
folders no longer configured are removed. Errors name the real file (guardrails resolve links).
"""

from __future__ import annotations

import os
from pathlib import Path

from akko_orchestrator.config.project import Project

PREFIX = "hand_written__"


def link_name(folder: str) -> str:
    parts = Path(folder).parts
    return PREFIX + "".join(c if c.isalnum() or c == "_" else "_" for c in "__".join(parts))


def link_dag_folders(project: Project) -> list[Path]:
    """Make the links for the configured folders that exist; return the linked folders."""
    dags_dir = project.dags_dir
    wanted: dict[str, Path] = {}
    for folder in project.config.dags:
        target = (project.root / folder).resolve()
        if target.is_dir() and target != dags_dir.resolve():
            wanted[link_name(folder)] = target
    if wanted:
        dags_dir.mkdir(parents=True, exist_ok=True)
    for name, found in wanted.items():
        link = dags_dir / name
        # relative: the link survives moving the project, or committing its DAG folder for a git DAG bundle
        target = Path(os.path.relpath(found, dags_dir.resolve()))
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.is_symlink():
            link.unlink()
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    for stale in dags_dir.glob(PREFIX + "*") if dags_dir.is_dir() else ():
        if stale.is_symlink() and stale.name not in wanted:
            stale.unlink()
    return sorted(wanted.values())
