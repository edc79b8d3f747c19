"""The OpenLineage methods of AKKO's operators, as Airflow's OpenLineage provider calls them: at the task's start
the tables it will read and write (names only), at its end (success or failure) everything it recorded. A failure
here is the provider's to log: it never fails the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def on_start(operator: Any) -> Any:
    from akko_orchestrator.lineage.facets import planned_lineage

    return planned_lineage(_project(operator), operator.lineage_reads(), operator.lineage_writes())


def on_end(operator: Any) -> Any:
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lineage.facets import operator_lineage

    recorded = getattr(operator, "_akko_lineage", None)
    if recorded is None:  # the task never reached execute: what was planned
        return on_start(operator)
    project = _project(operator)
    catalog = None
    if recorded.inputs or recorded.outputs:  # tables to name with their schemas and snapshots
        try:
            catalog = open_catalog(project)
        except Exception:  # no catalog to read schemas from: the lineage without them
            catalog = None
    return operator_lineage(project, catalog, recorded, getattr(operator, "_akko_identity", {}))


def _project(operator: Any) -> Any:
    """The operator's project, read once per task (its START and end events both need it)."""
    from akko_orchestrator.config.project import load_project

    project = getattr(operator, "_akko_lineage_project", None)
    if project is None:
        project = load_project(Path(operator.spec_file).parent)
        operator._akko_lineage_project = project
    return project
