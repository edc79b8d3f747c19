"""Where a dbt step's project is, what identifies its current state, and where its graph is kept.

The fingerprint hashes the files dbt reads (dbt_project.yml, packages, models, seeds, macros, tests, snapshots,
analyses, installed packages) plus the step's selection, schema and vars: any change makes the stored graph stale.
It is computed at parse time too (a few milliseconds for hundreds of files), so a DAG is never rendered from a graph
of an older project. No dbt import here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from akko_orchestrator.dbt.graph import GRAPH_VERSION

PROJECT_FILE = "dbt_project.yml"
PATH_KEYS = {
    "model-paths": ["models"],
    "seed-paths": ["seeds"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "snapshot-paths": ["snapshots"],
    "analysis-paths": ["analyses"],
}
TOP_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml", "package-lock.yml")
GRAPH_DIR = Path("target") / "akko"
BUILDER_FILES = ("graph.py", "manifest.py")  # the code deriving a graph: a change rebuilds graphs


@dataclass(frozen=True)
class DbtProject:
    folder: Path  # holds dbt_project.yml
    name: str
    profile: str
    config: dict

    @property
    def source_folders(self) -> list[Path]:
        folders = []
        for key, default in PATH_KEYS.items():
            for relative in self.config.get(key) or default:
                folders.append(self.folder / relative)
        installed = self.config.get("packages-install-path") or "dbt_packages"
        folders.append(self.folder / installed)
        return folders


class DbtProjectError(ValueError):
    """The project folder or its dbt_project.yml cannot be read."""


def load_project(folder: Path) -> DbtProject:
    from akko_orchestrator.spec.yaml_safety import load_file

    project_file = folder / PROJECT_FILE
    try:
        config = load_file(project_file) or {}  # within the budgets of every YAML AKKO reads
    except FileNotFoundError:
        raise DbtProjectError(f"no dbt project at {folder}: {PROJECT_FILE} not found") from None
    except (OSError, ValueError) as exc:
        raise DbtProjectError(f"cannot read {project_file}: {exc}") from None
    if not isinstance(config, dict) or not config.get("name"):
        raise DbtProjectError(f"{project_file} has no `name`")
    return DbtProject(folder, str(config["name"]), str(config.get("profile") or config["name"]), config)


def fingerprint(project: DbtProject, selection: dict) -> str:
    """Changes whenever a file dbt reads, the step's selection (select, exclude, schema, vars), or the code
    deriving graphs does."""
    digest = hashlib.sha256(json.dumps([GRAPH_VERSION, selection], sort_keys=True).encode())
    for module in BUILDER_FILES:
        _add_file(digest, Path(__file__).with_name(module), module)
    for name in TOP_FILES:
        _add_file(digest, project.folder / name, name)
    for folder in project.source_folders:
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                _add_file(digest, path, path.relative_to(project.folder).as_posix())
    return digest.hexdigest()[:32]


def _add_file(digest: hashlib._Hash, path: Path, name: str) -> None:
    try:
        data = path.read_bytes()
    except OSError:
        return
    digest.update(f"{name}\0{len(data)}\0".encode())
    digest.update(data)


def graph_path(project: DbtProject, selection: dict) -> Path:
    """Where the graph of this project and selection is kept (one file per selection of the project)."""
    key = hashlib.sha256(json.dumps(selection, sort_keys=True).encode()).hexdigest()[:12]
    return project.folder / GRAPH_DIR / f"graph-{key}.json"
