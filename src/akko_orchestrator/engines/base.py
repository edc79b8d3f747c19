"""The engine interface and registry. Drivers are imported inside each factory, so an engine costs nothing until used."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project


@dataclass(frozen=True)
class Capabilities:
    dialect: str  # sqlglot dialect the engine executes
    reads_iceberg_natively: bool


class SqlEngine(ABC):
    """Runs Trino SQL (the spec language) against the lakehouse and returns Arrow."""

    capabilities: Capabilities

    @abstractmethod
    def query(self, sql: str, tables: list[str]) -> pa.Table:
        """Run one query in Trino SQL that reads `tables` (namespace.table) and return its result."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


EngineFactory = Callable[["Project", "Catalog"], SqlEngine]
_REGISTRY: dict[str, EngineFactory] = {}


def register(name: str) -> Callable[[EngineFactory], EngineFactory]:
    def decorate(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def create_engine(name: str, project: Project, catalog: Catalog) -> SqlEngine:
    from akko_orchestrator.engines import duckdb_engine, trino_engine  # noqa: F401 - each registers itself

    if name not in _REGISTRY:
        raise AkkoError(
            f"SQL engine '{name}' is not available in this version (profile '{project.profile_name}'); "
            f"available: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](project, catalog)
