"""A step's OpenLineage datasets and facets, from what it recorded (`lineage/recorder.py`) and the catalog:

- inputs: the Iceberg tables it read (schema, `version` = the snapshot id read), the files, HTTP endpoints and SQL
  source tables of ingest steps;
- outputs: the tables it wrote (schema, `version` = the snapshot written, `outputStatistics` rows, column lineage
  of the query that produced them, the checks as `dataQualityAssertions`, and `akko_iceberg`: snapshot, mode,
  audit branch and whether it was published);
- job facet `sql` (the SQL the step ran), run facet `akko` (pipeline, step, run identity, profile).

Names follow `lineage/naming.py`. Imported only when the provider asks (lineage on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet

from akko_orchestrator import __version__
from akko_orchestrator.lineage import naming
from akko_orchestrator.lineage.recorder import StepLineage, WriteFact

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project

PRODUCER = f"https://github.com/akko-ai/akko-orchestrator/tree/{__version__}"
FACETS_DOC = "https://github.com/akko-ai/akko-orchestrator/blob/main/docs/lineage.md"


@attr.define
class AkkoIcebergDatasetFacet(DatasetFacet):
    """The Iceberg snapshot a step wrote, how, and whether its checks let it reach `main`."""

    snapshotId: str | None = None  # noqa: N815 (OpenLineage's camelCase)
    mode: str | None = None
    auditBranch: str | None = None  # noqa: N815
    published: bool = True
    alreadyPublished: bool = False  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_DOC}#akko_iceberg"


@attr.define
class AkkoRunFacet(RunFacet):
    """Who ran: AKKO's pipeline and step (a dbt model's step is `<step>.<model>`), the Airflow run and try."""

    pipeline: str
    step: str
    runId: str  # noqa: N815
    tryNumber: int  # noqa: N815
    profile: str

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_DOC}#akko"


def operator_lineage(
    project: Project, catalog: Catalog | None, recorded: StepLineage, identity: dict[str, Any]
):
    """The OpenLineage of a finished (or failed) step as the provider's `OperatorLineage`."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import sql_job

    schemas = {t: _table(catalog, t) for t in recorded.inputs}
    inputs = [_input(project, t, *schemas[t]) for t in recorded.inputs]
    inputs += [InputDataset(ns, name) for ns, name in _sources(recorded)]
    outputs = [_output(project, catalog, fact, recorded, schemas) for fact in recorded.outputs.values()]
    job_facets = {"sql": sql_job.SQLJobFacet(query=";\n".join(recorded.queries))} if recorded.queries else {}
    return OperatorLineage(
        inputs=inputs,
        outputs=outputs,
        run_facets={"akko": AkkoRunFacet(**identity, producer=PRODUCER)},
        job_facets=job_facets,
    )


def planned_lineage(project: Project, reads: list[str], writes: list[str]):
    """At the task's start: the tables it will read and write, by name."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    namespace = naming.table_namespace(project)
    return OperatorLineage(
        inputs=[InputDataset(namespace, naming.table_name(project, t)) for t in reads],
        outputs=[OutputDataset(namespace, naming.table_name(project, t)) for t in writes],
    )


def _table(
    catalog: Catalog | None, name: str, snapshot_id: int | None = None
) -> tuple[int | None, dict[str, str]]:
    """A table's snapshot (the current one, or the one given) and its columns with their Trino types then."""
    from akko_orchestrator.engines.duckdb.engine import trino_type

    if catalog is None:
        return snapshot_id, {}
    try:
        table = catalog.load_table(name)
    except Exception:  # not (or no longer) there: named, without version or schema
        return snapshot_id, {}
    schema = table.schema()
    if snapshot_id is None:
        current = table.current_snapshot()
        snapshot_id = current.snapshot_id if current else None
    elif (snapshot := table.snapshot_by_id(snapshot_id)) is not None and snapshot.schema_id is not None:
        schema = table.metadata.schema_by_id(snapshot.schema_id) or schema
    return snapshot_id, {f.name: trino_type(f.field_type) for f in schema.fields}


def _dataset_facets(snapshot_id: int | None, columns: dict[str, str]) -> dict[str, Any]:
    from openlineage.client.facet_v2 import dataset_version_dataset, schema_dataset

    facets: dict[str, Any] = {}
    if columns:
        fields = [schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns.items()]
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=fields)
    if snapshot_id is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(snapshot_id)
        )
    return facets


def _input(project: Project, table: str, snapshot_id: int | None, columns: dict[str, str]):
    from openlineage.client.event_v2 import InputDataset

    name = naming.table_name(project, table)
    return InputDataset(naming.table_namespace(project), name, facets=_dataset_facets(snapshot_id, columns))


def _output(project: Project, catalog: Catalog | None, fact: WriteFact, recorded: StepLineage, schemas: dict):
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as stats

    snapshot_id, columns = _table(catalog, fact.table, fact.snapshot_id)
    facets = _dataset_facets(snapshot_id, columns)
    lineage = _columns(project, recorded.producers.get(fact.table), schemas, columns)
    if lineage is not None:
        facets["columnLineage"] = lineage
    if fact.assertions:
        facets["dataQualityAssertions"] = _assertions(fact)
    facets["akko_iceberg"] = AkkoIcebergDatasetFacet(
        producer=PRODUCER,
        snapshotId=None if snapshot_id is None else str(snapshot_id),
        mode=fact.mode,
        auditBranch=fact.branch,
        published=fact.published,
        alreadyPublished=fact.already_published,
    )
    output_facets = {}
    if fact.rows is not None:
        output_facets["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(rowCount=fact.rows)
    name = naming.table_name(project, fact.table)
    return OutputDataset(naming.table_namespace(project), name, facets=facets, outputFacets=output_facets)


def _assertions(fact: WriteFact):
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    return dq.DataQualityAssertionsDatasetFacet(
        assertions=[
            dq.Assertion(
                assertion=a["assertion"],
                success=a["success"],
                column=a.get("column"),
                severity=a.get("severity"),
                name=a.get("name"),
                expected=a.get("expected"),
                actual=a.get("actual"),
            )
            for a in fact.assertions
        ]
    )


def _columns(
    project: Project,
    sql: str | None,
    schemas: dict[str, tuple[int | None, dict[str, str]]],
    output_columns: dict[str, str],
):
    """The column lineage of the query that produced a table, over the tables read: only for columns the table
    has (a query's unnamed expression is named by the engine, not as sqlglot names it)."""
    if not sql:
        return None
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    from akko_orchestrator.lineage.columns import column_lineage

    traced = column_lineage(sql, {t: columns for t, (_, columns) in schemas.items()})
    namespace = naming.table_namespace(project)
    fields = {}
    known = {c.lower(): c for c in output_columns}
    for column, sources in traced.items():
        if not sources or (known and column.lower() not in known):
            continue
        inputs = [
            cl.InputField(
                namespace=namespace,
                name=naming.table_name(project, s.table),
                field=s.column,
                transformations=[cl.Transformation(type=s.type, subtype=s.subtype)],
            )
            for s in sources
        ]
        identity = all(s.subtype == "IDENTITY" for s in sources) and len(sources) == 1
        fields[known.get(column.lower(), column)] = cl.Fields(
            inputFields=inputs, transformationType="IDENTITY" if identity else None
        )
    return cl.ColumnLineageDatasetFacet(fields=fields) if fields else None


def _sources(recorded: StepLineage) -> list[tuple[str, str]]:
    found = [naming.file_dataset(f) for f in recorded.files]
    found += [naming.http_dataset(u) for u in recorded.urls]
    for conn_id, query in recorded.sql_sources:
        try:
            found += naming.sql_source_datasets(conn_id, query)
        except Exception:  # a connection that cannot be read any more: the rest of the lineage stands
            continue
    return list(dict.fromkeys(found))
