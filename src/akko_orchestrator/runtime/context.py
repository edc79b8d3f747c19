"""Everything a running step needs: the project and profile, the catalog, object store and SQL engine (opened
lazily), and the Airflow run identity recorded in every Iceberg snapshot it commits."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.project import Project
from akko_orchestrator.lakehouse.object_store import ObjectStore
from akko_orchestrator.lineage.recorder import StepLineage

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.engines.base import SqlEngine

log = logging.getLogger("akko")


@dataclass
class StepContext:
    project: Project
    pipeline_id: str
    step_id: str
    run_id: str = "local"
    try_number: int = 1
    map_index: int = -1
    params: dict[str, Any] = field(
        default_factory=dict
    )  # the Airflow run's configuration (`akko run --conf`)
    write_id: str | None = None  # one write attempt of an audited write (lakehouse/wap.py `verify_branch`)
    lineage: StepLineage = field(default_factory=StepLineage)  # what it read and wrote, for OpenLineage

    @cached_property
    def catalog(self) -> Catalog:
        from akko_orchestrator.lakehouse.catalog import open_catalog

        return open_catalog(self.project)

    @cached_property
    def object_store(self) -> ObjectStore:
        return ObjectStore(self.project)

    @cached_property
    def sql_engine(self) -> SqlEngine:
        from akko_orchestrator.engines.registry import create_engine

        return create_engine(self.project.profile.sql_engine, self.project, self.catalog)

    @property
    def snapshot_properties(self) -> dict[str, str]:
        """Recorded in every snapshot this step commits: who wrote it, in which run and try."""
        props = {
            "akko.pipeline": self.pipeline_id,
            "akko.step": self.step_id,
            "akko.run-id": self.run_id,
            "akko.try-number": str(self.try_number),
        }
        if self.write_id is not None:
            props["akko.write-id"] = self.write_id
        return props

    def staging_key(self, name: str) -> str:
        """Object-store key for this run's intermediate files (never a table's location, so never visible)."""
        run = re.sub(r"[^A-Za-z0-9_.-]", "_", self.run_id)
        return f"_akko/staging/{self.pipeline_id}/{run}/{self.step_id}/{name}"

    def close(self) -> None:
        if "sql_engine" in self.__dict__:
            self.sql_engine.close()
