"""`akko lineage`: the lineage graph across pipelines, from the OpenLineage events stored in the local event log.

Each job's (pipeline.task's) latest COMPLETE event gives its edges: every input dataset -> every output dataset,
and from output datasets' `columnLineage` facets, input columns -> output columns. Older runs of a job are
superseded (a pipeline changed since then does not keep its old edges). Datasets of the lakehouse are shown as
`namespace.table`, others (files, HTTP and SQL sources) by their OpenLineage namespace and name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LineageGraph:
    upstream: dict[str, set[str]] = field(default_factory=dict)  # dataset -> datasets it is made from
    downstream: dict[str, set[str]] = field(default_factory=dict)
    columns_up: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    columns_down: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    jobs: dict[str, set[str]] = field(default_factory=dict)  # output dataset -> jobs writing it

    def add(self, job: str, inputs: list[str], outputs: list[str]) -> None:
        for output in outputs:
            self.jobs.setdefault(output, set()).add(job)
            for source in inputs:
                if source != output:
                    self.upstream.setdefault(output, set()).add(source)
                    self.downstream.setdefault(source, set()).add(output)

    def add_column(self, source: tuple[str, str], target: tuple[str, str]) -> None:
        self.columns_up.setdefault(target, set()).add(source)
        self.columns_down.setdefault(source, set()).add(target)

    @property
    def datasets(self) -> set[str]:
        return set(self.upstream) | set(self.downstream)


def read_graph(log: Path) -> LineageGraph:
    graph = LineageGraph()
    for event in _latest_completions(_events(log)):
        inputs = [display(d) for d in event.get("inputs") or []]
        outputs = event.get("outputs") or []
        graph.add(event["job"]["name"], inputs, [display(d) for d in outputs])
        for dataset in outputs:
            fields = ((dataset.get("facets") or {}).get("columnLineage") or {}).get("fields") or {}
            for column, spec in fields.items():
                for source in spec.get("inputFields") or []:
                    graph.add_column((display(source), source["field"]), (display(dataset), column))
    return graph


def display(dataset: dict) -> str:
    """`demo.sales` for a lakehouse table (`iceberg.demo.sales` in any table namespace), else namespace/name."""
    namespace, name = dataset["namespace"], dataset["name"]
    if namespace.startswith(("iceberg://", "trino://")):
        parts = name.split(".")
        return ".".join(parts[-2:]) if len(parts) >= 2 else name
    return f"{namespace}{name}" if namespace != "file" else name


def _events(log: Path) -> Iterator[dict]:
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill mid-write
        if isinstance(event, dict) and "job" in event:
            yield event


def _latest_completions(events: Iterable[dict]) -> list[dict]:
    latest: dict[str, dict] = {}
    for event in events:
        if event.get("eventType") == "COMPLETE" and (event.get("inputs") or event.get("outputs")):
            job = event["job"]["name"]
            if job not in latest or event.get("eventTime", "") >= latest[job].get("eventTime", ""):
                latest[job] = event
    return list(latest.values())


def walk(edges: dict, start: object, seen: frozenset = frozenset()) -> list[tuple[object, list]]:
    """The tree of `start`'s neighbours, recursively (a node already on the path is shown, not expanded)."""
    children = []
    for child in sorted(edges.get(start, ()), key=str):
        if child in seen or child == start:
            children.append((child, []))
        else:
            children.append((child, walk(edges, child, seen | {start})))
    return children
