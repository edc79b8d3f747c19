"""Which SQL engine a profile names, and building it. Engines are named here by module path, imported only when a
profile uses one (SQLMesh's dialect-to-adapter table): a missing optional driver costs nothing until then, and no
engine module imports this registry (no import circle)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project
    from akko_orchestrator.engines.base import SqlEngine

# name -> module defining `create(project, catalog) -> SqlEngine`
ENGINES = {
    "duckdb": "akko_orchestrator.engines.duckdb.engine",
    "trino": "akko_orchestrator.engines.trino_engine",
}


def create_engine(name: str, project: Project, catalog: Catalog) -> SqlEngine:
    if name not in ENGINES:
        raise AkkoError(
            f"SQL engine '{name}' is not available in this version (profile '{project.profile_name}'); "
            f"available: {', '.join(sorted(ENGINES))}"
        )
    return importlib.import_module(ENGINES[name]).create(project, catalog)
