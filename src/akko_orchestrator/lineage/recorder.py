"""What a running step read and wrote, recorded as it happens: cheap plain data (names, snapshot ids, counts), no
catalog lookup and no OpenLineage import. `lineage/facets.py` turns it into OpenLineage datasets and facets when
Airflow's provider asks the operator, after the task (on success or failure); with lineage off nobody asks and
recording costs nothing worth measuring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class WriteFact:
    table: str
    snapshot_id: int | None
    rows: int | None = None
    mode: str | None = None
    branch: str | None = None  # the audit branch the checks read (write-audit-publish)
    published: bool = True  # False: the checks kept the snapshot off `main`
    assertions: list[dict[str, Any]] = field(default_factory=list)  # the checks, as OpenLineage assertions
    already_published: bool = False  # an earlier try of this run wrote it


@dataclass
class StepLineage:
    inputs: list[str] = field(default_factory=list)  # lakehouse tables read (namespace.table)
    outputs: dict[str, WriteFact] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # files read (paths or URIs)
    urls: list[str] = field(default_factory=list)  # HTTP sources
    sql_sources: list[tuple[str, str]] = field(default_factory=list)  # (Airflow connection, query)
    queries: list[str] = field(default_factory=list)  # the SQL the step ran (sql facet)
    producers: dict[str, str] = field(default_factory=dict)  # output table -> the query producing its rows

    def read(self, tables: list[str] | tuple[str, ...]) -> None:
        self.inputs.extend(t for t in tables if t not in self.inputs)

    def query(self, sql: str, produces: str | None = None) -> None:
        self.queries.append(sql)
        if produces is not None:
            self.producers[produces] = sql

    def wrote(self, table: str, snapshot_id: int | None, **facts: Any) -> None:
        self.outputs[table] = WriteFact(table, snapshot_id, **facts)
