"""Maintain tables of a project now, on its profile: what the maintenance DAG's tasks and `akko maintain` call."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from akko_orchestrator.config.maintenance import MaintenanceSettings
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.maintenance.report import TableReport
from akko_orchestrator.maintenance.runner import maintain_table

if TYPE_CHECKING:
    from akko_orchestrator.config.project import Project

log = logging.getLogger("akko")


def settings_of(project: Project) -> MaintenanceSettings:
    """akko.yaml's `maintenance:`, or the defaults (`akko maintain` works without the section)."""
    return project.config.maintenance or MaintenanceSettings()


def maintain(
    project: Project, tables: list[str], dry_run: bool = False, now: dt.datetime | None = None
) -> list[TableReport]:
    """One report per table; a table that fails (a writer won a race, Trino refused) is reported `failed` and the
    others still run."""
    from pyiceberg.exceptions import CommitFailedException

    from akko_orchestrator.lakehouse.catalog import open_catalog

    settings = settings_of(project)
    catalog = open_catalog(project)
    engine = None
    if project.profile.engine == "cluster":
        from akko_orchestrator.engines.registry import create_engine

        engine = create_engine("trino", project, catalog)
    trino = (
        (engine, (project.profile.trino.catalog if project.profile.trino else "iceberg")) if engine else None
    )
    reports = []
    try:
        for table in tables:
            try:
                reports.append(maintain_table(catalog, settings.for_table(table), now, dry_run, trino))
            except (AkkoError, CommitFailedException) as exc:
                log.warning("%s: maintenance failed: %s", table, exc)
                reports.append(TableReport(table, status="failed", reason=str(exc)))
    finally:
        if engine is not None:
            engine.close()
    return reports
