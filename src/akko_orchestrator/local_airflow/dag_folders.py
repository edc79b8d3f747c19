"""Hand-written DAG folders (akko.yaml `dags`, default `dags/`) inside the folders Airflow parses, and on sys.path.

AKKO's DAG folder is its own (`<state>/dags`, rewritten by `akko sync`), so each hand-written folder is linked into
it as `hand_written__<folder>`: the dag-processor follows links (os.walk with followlinks) and parses those files
like any other, under AKKO's cluster policies; a file added to the folder is seen without any sync. Links of
folders no longer configured are removed. Errors name the real file (guardrails resolve links).

In multi-team mode AKKO replaces Airflow's `dag_bundle_config_list` with one LocalDagBundle per team
(local_airflow/auth.py). Airflow 3.3.2's DagBundlesManager.parse_config takes that list as the whole set of bundles
(adding only example bundles, with load_examples): its default `dags-folder` bundle over DAGS_FOLDER is then not
configured at all, so a file linked only there is never parsed. `link_team_folders` links each folder into its team's bundle folder
instead: the folder's `team`, else the one team its files' `team:<x>` tags name (read with `ast`, nothing
imported); a folder naming none or several is refused with a located error, never dropped in silence.

Airflow puts a bundle's folder on sys.path (BundleDagBag), not the folders linked inside it, so `import helpers`
beside a DAG file would fail: AKKO_DAG_PATHS carries the folders to every Airflow process, whose local settings
(environment.LOCAL_SETTINGS) call `extend_sys_path`. Kept free of heavy imports: every Airflow process loads it.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from akko_orchestrator.config.project import Project

PREFIX = "hand_written__"
PATHS_VARIABLE = "AKKO_DAG_PATHS"
_TEAM_TAG = re.compile(r"team:([A-Za-z0-9_-]{3,50})")  # Airflow's team name rule, as config/models.py


def link_name(folder: str) -> str:
    parts = Path(folder).parts
    return PREFIX + "".join(c if c.isalnum() or c == "_" else "_" for c in "__".join(parts))


def _existing(project: Project) -> list[tuple[int, str, str | None, Path]]:
    """(index in `dags`, folder as written, team, real folder) of the configured folders that exist."""
    found = []
    for index, entry in enumerate(project.config.dags):
        target = (project.root / entry.path).resolve()
        if target.is_dir() and target != project.dags_dir.resolve():
            found.append((index, entry.path, entry.team, target))
    return found


def link_dag_folders(project: Project) -> list[Path]:
    """Make the links for the configured folders that exist; return the linked folders."""
    wanted = {link_name(folder): target for _, folder, _, target in _existing(project)}
    _link_all(project.dags_dir, wanted)
    return sorted(wanted.values())


def link_team_folders(project: Project, team_dir: Mapping[str, Path]) -> dict[str, list[str]]:
    """Multi-team mode: link each folder into the bundle folder (`team_dir[team]`) of its team, stale links
    removed from every team's folder; returns the link names per team."""
    wanted: dict[str, dict[str, Path]] = {team: {} for team in team_dir}
    for index, folder, team, target in _existing(project):
        owner = team or _inferred_team(project, index, folder, target, list(team_dir))
        wanted[owner][link_name(folder)] = target
    for team, links in wanted.items():
        _link_all(team_dir[team], links)
    return {team: sorted(links) for team, links in wanted.items()}


def _link_all(dest: Path, wanted: Mapping[str, Path]) -> None:
    if wanted:
        dest.mkdir(parents=True, exist_ok=True)
    for name, found in wanted.items():
        link = dest / name
        # relative: the link survives moving the project, or committing its DAG folder for a git DAG bundle
        target = Path(os.path.relpath(found, dest.resolve()))
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.is_symlink():
            link.unlink()
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    for stale in dest.glob(PREFIX + "*") if dest.is_dir() else ():
        if stale.is_symlink() and stale.name not in wanted:
            stale.unlink()


def _inferred_team(project: Project, index: int, folder: str, target: Path, teams: list[str]) -> str:
    named = tagged_teams(target)
    declared = sorted(named & set(teams))
    if len(declared) == 1 and named == set(declared):
        return declared[0]
    if not named:
        reason = f"folder '{folder}' has no `team` and its DAG files name no `team:<x>` tag"
    else:
        reason = f"folder '{folder}' has no `team` and its DAG files name team(s) {', '.join(sorted(named))}"
    from akko_orchestrator.config.project import PROJECT_FILE
    from akko_orchestrator.errors import ConfigError
    from akko_orchestrator.spec.yaml_source import SpecSource

    hint = f"write it {{path: {folder}, team: <team>}}, <team> one of {', '.join(teams)}"
    source = SpecSource.read(
        project.root / PROJECT_FILE, PROJECT_FILE
    )  # teams, so akko.yaml, in multi-team mode
    issue = source.issue(("dags", index), f"{reason}; in multi-team mode each folder is one team's", hint)
    raise ConfigError(issue.format())


def tagged_teams(folder: Path) -> set[str]:
    """The team names of the `team:<x>` strings in the folder's Python files, from their syntax tree: importing
    them would run their top-level code (and their I/O) outside the dag-processor."""
    teams: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue  # the dag-processor reports the file's own error
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = _TEAM_TAG.fullmatch(node.value)
                if match:
                    teams.add(match[1])
    return teams


def import_paths(project: Project) -> list[Path]:
    """The hand-written folders that exist: importable by plain name from every Airflow process."""
    return [target for _, _, _, target in _existing(project)]


def extend_sys_path(environ: Mapping[str, str] | None = None) -> list[str]:
    """Append the folders of AKKO_DAG_PATHS to sys.path (after everything, as Airflow appends a bundle's path:
    an installed module of the same name wins); returns those added."""
    value = (os.environ if environ is None else environ).get(PATHS_VARIABLE, "")
    added = [p for p in dict.fromkeys(value.split(os.pathsep)) if p and p not in sys.path]
    sys.path.extend(added)
    return added
