"""A dbt project's graph as AKKO needs it at parse time: plain data, read from a small JSON file.

Airflow re-parses every DAG file often; a dbt step's task group is rendered from this graph, never by running dbt
(`dbt ls`/`dbt parse` inside the dag-processor is the main cost and failure of rendering dbt in Airflow). The graph
is derived from dbt's own manifest and node selection by `dbt/manifest.py` (outside parse time: `akko validate`,
`akko sync` and every `akko run`/`dev`) and stored next to the project (`target/akko/`), keyed by a fingerprint of
the project's files: a stale graph is refused at parse time rather than rendered wrong.

Imports nothing beyond the standard library (the plan layer reads it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GRAPH_VERSION = 1


@dataclass(frozen=True)
class DbtTest:
    """A dbt test of one model: a query returning the failing rows, compiled by dbt when the step runs."""

    unique_id: str
    name: str
    severity: str  # error | warn
    file: str  # relative to the project folder
    depends_on: tuple[str, ...] = ()  # models and seeds it reads (unique ids)


@dataclass(frozen=True)
class DbtNode:
    """A model or seed: one Iceberg table, one Airflow task."""

    unique_id: str
    name: str
    resource_type: str  # model | seed
    schema: str  # the Iceberg namespace
    alias: str  # the Iceberg table name
    materialized: str  # table | view | incremental | seed
    file: str  # relative to the project folder
    depends_on: tuple[str, ...] = ()  # selected models and seeds it refs (unique ids)
    refs_outside: tuple[
        str, ...
    ] = ()  # lakehouse tables of models/seeds it refs that this step does not build
    sources: tuple[str, ...] = ()  # lakehouse tables of the sources it reads (namespace.table)
    unique_key: tuple[str, ...] = ()  # incremental models: the merge key
    incremental_strategy: str | None = None  # append | merge | delete+insert
    tests: tuple[DbtTest, ...] = ()
    seed_types: tuple[tuple[str, str], ...] = ()  # seeds: `column_types` (column, type)
    delimiter: str = ","  # seeds: the CSV delimiter

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.alias}".lower()

    @property
    def task_id(self) -> str:
        return self.name

    @property
    def reads(self) -> tuple[str, ...]:
        """Lakehouse tables outside this node that it reads: sources and models of other steps or selections."""
        return tuple(sorted({*self.sources, *self.refs_outside}))


@dataclass(frozen=True)
class DbtGraph:
    """The selected nodes of one dbt step, in dbt's dependency order."""

    project_name: str
    fingerprint: str  # of the project's files and the step's selection (dbt/project.py)
    profile: str  # the `profile:` of dbt_project.yml, which AKKO generates
    target_schema: str  # the dbt target's schema: the namespace of models without one of their own
    nodes: tuple[DbtNode, ...] = ()
    version: int = GRAPH_VERSION
    warnings: tuple[str, ...] = field(default=())

    def node(self, unique_id: str) -> DbtNode:
        return next(n for n in self.nodes if n.unique_id == unique_id)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(n.table for n in self.nodes)

    @property
    def reads(self) -> tuple[str, ...]:
        built = set(self.tables)
        return tuple(sorted({t for n in self.nodes for t in n.reads} - built))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> DbtGraph:
        data = json.loads(text)
        nodes = tuple(_node(n) for n in data.pop("nodes", ()))
        data["warnings"] = tuple(data.get("warnings", ()))
        return cls(nodes=nodes, **data)


def _node(data: dict[str, Any]) -> DbtNode:
    tests = tuple(
        DbtTest(**{**t, "depends_on": tuple(t.get("depends_on", ()))}) for t in data.pop("tests", ())
    )
    tuples = {k: tuple(data.get(k, ())) for k in ("depends_on", "refs_outside", "sources", "unique_key")}
    seed_types = tuple((str(c), str(t)) for c, t in data.pop("seed_types", ()))
    return DbtNode(**{**data, **tuples, "tests": tests, "seed_types": seed_types})


def read_graph(path: Path) -> DbtGraph | None:
    """The graph stored at `path`, None if there is none (or it is unreadable or of another version)."""
    try:
        graph = DbtGraph.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return graph if graph.version == GRAPH_VERSION else None
