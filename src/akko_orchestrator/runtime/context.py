"""Everything a running step needs: the project and profile, the catalog, object store and SQL engine (opened
lazily), and the Airflow run identity recorded in every Iceberg snapshot it commits.

With akko.yaml `teams`, a step of a team gets a guarded catalog (`runtime/tenancy.py`): every table it loads,
creates, commits or drops, whoever asks (AKKO's writer, the DuckDB engine), is checked against the team's
namespaces first; every Airflow connection a step uses goes through `connection` / `allow_connection`.
`platform_catalog` is the unguarded one, for AKKO's own tables (`akko.check_results`).

A StepContext is AKKO's own and is never handed to a step's code: python and spark functions get a `StepApi`
(runtime/step_api.py), which leads to none of the platform objects here."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.project import Project
from akko_orchestrator.config.secrets import mask_connection_id
from akko_orchestrator.config.tenancy import TeamGuard, Tenancy
from akko_orchestrator.lakehouse.object_store import ObjectStore
from akko_orchestrator.lineage.recorder import StepLineage

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.engines.base import SqlEngine
    from akko_orchestrator.plan.model import PlannedStep

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
    team: str | None = None  # the pipeline's team: with akko.yaml `teams`, what the step may touch

    @cached_property
    def guard(self) -> TeamGuard | None:
        """The team's rules for this step (None: no `teams:` in akko.yaml, or a context of no pipeline)."""
        return Tenancy.of(self.project.config).guard(self.team, self.step_id)

    @cached_property
    def platform_catalog(self) -> Catalog:
        """The catalog itself: for AKKO's own tables only (the check history), never handed to a step's code."""
        from akko_orchestrator.lakehouse.catalog import open_catalog

        return open_catalog(self.project)

    @cached_property
    def catalog(self) -> Catalog:
        """The step's catalog: with teams, every table access checked against the team's namespaces."""
        if self.guard is None:
            return self.platform_catalog
        from akko_orchestrator.runtime.tenancy import guarded_catalog

        return guarded_catalog(self.platform_catalog, self.guard)

    def check_step(self, planned: PlannedStep) -> None:
        """Before a step reads or writes anything: the tables its plan reads and writes, and its connections."""
        if self.guard is None:
            return
        from akko_orchestrator.plan.tenancy import step_connections

        for table in planned.reads:
            self.guard.check_read(table)
        for table in planned.tables:
            self.guard.check_write(table)
        for conn_id in step_connections(planned.step):
            self.guard.check_connection(conn_id)

    def allow_connection(self, conn_id: str) -> None:
        """Raises if the step's team may not use this Airflow connection (for hooks that fetch it themselves)."""
        if self.guard is not None:
            self.guard.check_connection(conn_id)
        mask_connection_id(conn_id)  # its secret parts masked in every log before anything fetches it

    def connection(self, conn_id: str) -> Any:
        """Every Airflow connection a step uses is fetched here, after its team's `connections` allow it."""
        self.allow_connection(conn_id)
        from airflow.sdk import BaseHook  # deferred: only steps with a connection pay for Airflow

        return BaseHook.get_connection(conn_id)

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
