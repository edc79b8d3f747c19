"""A dbt step's graph, derived from dbt's own manifest and node selection (never at DAG parse time).

`ensure_graph` builds it when the project's fingerprint changed: one dbt child process (dbt/invoke.py, with the
environment of the step's team) runs dbt in process there (`dbt parse`, `dbt ls` with the step's --select/--exclude,
and for `akko validate` `dbt compile`), against a throwaway DuckDB profile locked down with nothing readable and
every statement gated (dbt/duckdb_plugin.py), so it needs no warehouse, no Trino and no secret. dbt's partial-parse state is kept between builds
(`target/akko/`), so a rebuild after a small edit costs dbt's start-up and little more. The result is written next
to the project (dbt/project.py); errors come back as dbt's message with the file and line it names.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akko_orchestrator.dbt.environment import DbtEnvironment, dbt_environment
from akko_orchestrator.dbt.graph import DbtGraph, DbtNode, DbtTest, read_graph
from akko_orchestrator.dbt.project import DbtProject, fingerprint, graph_path

BUILD_TIMEOUT = 600  # seconds for one dbt parse + ls (+ compile) of a project
NODE_TYPES = ("model", "seed")
_LOCATION = re.compile(r"\(([^()\s]+\.(?:sql|yml|yaml|csv|py))\)")
_LINE = re.compile(r"\bline (\d+)")


@dataclass(frozen=True)
class DbtProblem:
    """dbt's own message for what is wrong in the project, with the file (relative to it) and line it names."""

    message: str
    file: str | None = None
    line: int | None = None


@dataclass
class GraphBuild:
    graph: DbtGraph | None = None
    problems: list[DbtProblem] = field(default_factory=list)
    compiled: dict[str, str] = field(default_factory=dict)  # unique id -> compiled SQL (with `compile=True`)


def selection_of(select: Iterable[str], exclude: Iterable[str], schema: str) -> dict[str, Any]:
    return {"select": list(select), "exclude": list(exclude), "schema": schema}


def ensure_graph(
    project: DbtProject,
    selection: dict[str, Any],
    vars: dict[str, Any],
    environment: DbtEnvironment | None = None,
) -> GraphBuild:
    """The stored graph if it is of the project as it is now, else a fresh one (stored for parse time)."""
    current = fingerprint(project, selection)
    path = graph_path(project, selection)
    stored = read_graph(path)
    if stored is not None and stored.fingerprint == current:
        return GraphBuild(stored)
    build = build_graph(project, selection, vars, environment=environment)
    failed = problems_path(path)
    if build.graph is not None:
        _write(path, build.graph.to_json())
        failed.unlink(missing_ok=True)
    else:  # parse time reports dbt's own message for this state of the project, not just "stale"
        problems = [p.__dict__ for p in build.problems]
        _write(failed, json.dumps({"fingerprint": current, "problems": problems}))
    return build


def problems_path(graph_file: Path) -> Path:
    return graph_file.with_name(graph_file.name.replace("graph-", "problems-"))


def stored_problems(graph_file: Path, current: str) -> list[DbtProblem]:
    """The problems the last graph build found, if it was of the project as it is now."""
    try:
        data = json.loads(problems_path(graph_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if data.get("fingerprint") != current:
        return []
    return [DbtProblem(**p) for p in data.get("problems", [])]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def build_graph(
    project: DbtProject,
    selection: dict[str, Any],
    vars: dict[str, Any],
    compile: bool = False,
    environment: DbtEnvironment | None = None,
) -> GraphBuild:
    """Run dbt in a child process for `project` and `selection`, with `environment` (default: no variable of
    this process); `compile` also returns every selected node's and test's compiled SQL (with no warehouse:
    is_incremental() is false)."""
    from akko_orchestrator.dbt.invoke import DbtChildError, run_child

    environment = environment or dbt_environment({}, None)
    request = {
        "project": str(project.folder),
        "selection": selection,
        "vars": vars,
        "compile": compile,
        "fingerprint": fingerprint(project, selection),
    }
    try:
        answer = run_child("graph", request, environment, BUILD_TIMEOUT)
    except DbtChildError as exc:
        return GraphBuild(problems=[DbtProblem(f"dbt could not read the project: {exc}")])
    if "failure" in answer:
        answer = {"problems": [{"message": answer["failure"], "file": None, "line": None}]}
    problems = [_explained(DbtProblem(**p), environment) for p in answer.get("problems", [])]
    graph = DbtGraph.from_json(json.dumps(answer["graph"])) if answer.get("graph") else None
    return GraphBuild(graph, problems, answer.get("compiled", {}))


def _explained(problem: DbtProblem, environment: DbtEnvironment) -> DbtProblem:
    return DbtProblem(environment.explain(problem.message), problem.file, problem.line)


# ---------------------------------------------------------------------------------------------------------------
# In the dbt child process (dbt/invoke.py)


def graph_task(request: dict[str, Any]) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    from akko_orchestrator.dbt.profiles import parse_profile
    from akko_orchestrator.dbt.project import load_project

    project = load_project(Path(request["project"]))
    selection = request["selection"]
    with tempfile.TemporaryDirectory(prefix="akko-dbt-parse-") as scratch:
        profiles = parse_profile(project.profile, Path(scratch), selection["schema"])
        common = _common_args(project, profiles, request["vars"])
        parsed = dbtRunner().invoke(["parse", *common])
        if not parsed.success:
            return {"problems": [_problem(parsed.exception, project)]}
        manifest = parsed.result
        listed = dbtRunner(manifest=manifest).invoke(["ls", *common, *_selection_args(selection)])
        if not listed.success:
            return {"problems": [_problem(listed.exception, project)]}
        selected = [json.loads(line)["unique_id"] for line in listed.result or []]
        graph = graph_from_manifest(manifest, selected, project, request["fingerprint"], selection["schema"])
        answer: dict[str, Any] = {"graph": json.loads(graph.to_json())}
        if request.get("compile"):
            answer.update(_compile(dbtRunner(manifest=manifest), common, graph, project))
        return answer


def _common_args(project: DbtProject, profiles: Path, vars: dict[str, Any]) -> list[str]:
    state = project.folder / "target" / "akko" / "dbt"
    return [
        "--project-dir",
        str(project.folder),
        "--profiles-dir",
        str(profiles),
        "--target-path",
        str(state),
        "--log-path",
        str(state / "logs"),
        "--vars",
        json.dumps(vars),
        "--quiet",
        "--no-use-colors",
    ]


def _selection_args(selection: dict[str, Any]) -> list[str]:
    args = ["--resource-types", *NODE_TYPES, "--output", "json", "--output-keys", "unique_id"]
    if selection["select"]:
        args += ["--select", *selection["select"]]
    if selection["exclude"]:
        args += ["--exclude", *selection["exclude"]]
    return args


def _compile(runner: Any, common: list[str], graph: DbtGraph, project: DbtProject) -> dict[str, Any]:
    from akko_orchestrator.dbt.invoke import failures

    names = [n.unique_id.split(".", 2)[-1] for n in graph.nodes if n.resource_type == "model"]
    if not names:
        return {"compiled": {}}
    done = runner.invoke(["compile", *common, "--select", *names])
    if not done.success:
        return {"problems": [_problem(message, project) for message in failures(done)], "compiled": {}}
    compiled = {r.node.unique_id: r.node.compiled_code for r in done.result.results if r.node.compiled_code}
    return {"compiled": compiled}


def _problem(exc: Any, project: DbtProject) -> dict[str, Any]:
    """dbt's message without its traceback, and the file (relative to the project) and line it names."""
    from akko_orchestrator.dbt.environment import env_var_location

    message = " ".join(str(exc or "dbt failed").split())
    found = _LOCATION.search(message)
    line = _LINE.search(message)
    if found is None and (asked := env_var_location(project.folder, project.source_folders, message)):
        return {"message": message, "file": asked[0], "line": asked[1]}
    return {
        "message": message,
        "file": found.group(1) if found else None,
        "line": int(line.group(1)) if line and found else None,
    }


def graph_from_manifest(
    manifest: Any, selected: list[str], project: DbtProject, print_: str, schema: str
) -> DbtGraph:
    """The selected models and seeds (ephemeral models are inlined by dbt: their dependencies count) with their
    dependencies, sources, tests and materialization, in dependency order. A test gates one node and that node
    also waits for the test's other parents (a relationships test needs the table it refers to)."""
    chosen = [u for u in selected if _materialized(manifest.nodes[u]) != "ephemeral"]
    wanted = set(chosen)
    parents = {u: _parents(manifest, u) for u in chosen}
    order = [n.unique_id for n in _in_order([_bare(u, parents[u][0] & wanted) for u in chosen])]
    tests, extra = _tests_by_node(manifest, wanted, order, {u: parents[u][0] & wanted for u in chosen})
    nodes = [_node(manifest, u, parents[u], wanted, tests.get(u, []), extra.get(u, set())) for u in chosen]
    return DbtGraph(project.name, print_, project.profile, schema, tuple(_in_order(nodes)))


def _bare(unique_id: str, depends_on: set[str]) -> DbtNode:
    return DbtNode(unique_id, "", "", "", "", "", "", tuple(sorted(depends_on)))


def _node(
    manifest: Any,
    unique_id: str,
    found: tuple[set[str], set[str]],
    wanted: set[str],
    tests: list[DbtTest],
    extra: set[str],
) -> DbtNode:
    node = manifest.nodes[unique_id]
    models, sources = found
    models = models | extra
    config = node.config
    unique_key = config.get("unique_key")
    return DbtNode(
        unique_id=unique_id,
        name=node.name,
        resource_type=_kind(node),
        schema=node.schema.lower(),
        alias=(node.alias or node.name).lower(),
        materialized=_materialized(node),
        file=node.original_file_path,
        depends_on=tuple(sorted(p for p in models if p in wanted)),
        refs_outside=tuple(sorted(_table(manifest.nodes[p]) for p in models if p not in wanted)),
        sources=tuple(sorted(sources)),
        unique_key=tuple([unique_key] if isinstance(unique_key, str) else unique_key or ()),
        incremental_strategy=config.get("incremental_strategy"),
        tests=tuple(tests),
        seed_types=tuple(sorted((config.get("column_types") or {}).items())),
        delimiter=str(config.get("delimiter") or ","),
    )


def _kind(node: Any) -> str:
    return node.resource_type.value if hasattr(node.resource_type, "value") else str(node.resource_type)


def _materialized(node: Any) -> str:
    return "seed" if _kind(node) == "seed" else str(node.config.materialized)


def _table(node: Any) -> str:
    return f"{node.schema}.{node.alias or node.name}".lower()


def _parents(manifest: Any, unique_id: str) -> tuple[set[str], set[str]]:
    """Models/seeds and source tables a node reads, looking through ephemeral models (dbt inlines them)."""
    models, sources, seen = set(), set(), set()
    pending = list(getattr(manifest.nodes[unique_id].depends_on, "nodes", None) or [])
    while pending:
        parent = pending.pop()
        if parent in seen:
            continue
        seen.add(parent)
        if parent in manifest.sources:
            source = manifest.sources[parent]
            sources.add(f"{source.schema}.{source.identifier}".lower())
        elif parent in manifest.nodes and _materialized(manifest.nodes[parent]) == "ephemeral":
            pending.extend(getattr(manifest.nodes[parent].depends_on, "nodes", None) or [])
        elif parent in manifest.nodes:
            models.add(parent)
    return models, sources


def _tests_by_node(
    manifest: Any, wanted: set[str], order: list[str], depends: dict[str, set[str]]
) -> tuple[dict[str, list[DbtTest]], dict[str, set[str]]]:
    """Each test gates one node: the one it is attached to (generic tests) unless another of its parents comes
    after that one, else the last of its parents in dependency order. Returns the tests of each node and the
    parents each node must also wait for (and read, when outside the selection) because of its tests.

    "Comes after" counts the waits earlier tests added: two models whose tests each refer to the other (a
    relationships test both ways) must not wait for each other (a cycle no DAG can render), so the second test
    gates the node that already waits for the first."""
    position = {u: i for i, u in enumerate(order)}
    depends = {u: set(parents) for u, parents in depends.items()}  # grows with the tests' waits (no cycle)
    found: dict[str, list[DbtTest]] = {}
    extra: dict[str, set[str]] = {}
    for unique_id in sorted(manifest.nodes):
        test = manifest.nodes[unique_id]
        if _kind(test) != "test":
            continue
        parents = [p for p in test.depends_on.nodes if p in manifest.nodes]
        gated = [p for p in parents if p in wanted]
        if not gated:
            continue
        attached = getattr(test, "attached_node", None)
        # the nodes no other parent of the test waits for (directly or not): one of them can wait for the rest
        last = [n for n in gated if not any(_descends(p, n, depends) for p in gated if p != n)]
        target = attached if attached in last else max(last, key=lambda p: position[p])
        severity = str(test.config.get("severity") or "error").lower()
        found.setdefault(target, []).append(
            DbtTest(unique_id, test.name, severity, test.original_file_path, tuple(sorted(parents)))
        )
        extra.setdefault(target, set()).update(p for p in parents if p != target)
        depends.setdefault(target, set()).update(p for p in gated if p != target)
    return found, extra


def _descends(node: str, ancestor: str, depends: dict[str, set[str]]) -> bool:
    """`node` depends on `ancestor`, directly or not."""
    pending, seen = list(depends.get(node, ())), set()
    while pending:
        parent = pending.pop()
        if parent == ancestor:
            return True
        if parent not in seen:
            seen.add(parent)
            pending.extend(depends.get(parent, ()))
    return False


def _in_order(nodes: list[DbtNode]) -> list[DbtNode]:
    """Dependency order, ties by unique id (stable DAGs)."""
    done: list[DbtNode] = []
    names: set[str] = set()
    pending = sorted(nodes, key=lambda n: n.unique_id)
    while pending:
        ready = [n for n in pending if set(n.depends_on) <= names]
        if not ready:  # dbt refuses cycles; never reached
            ready = pending[:1]
        done.extend(ready)
        names.update(n.unique_id for n in ready)
        pending = [n for n in pending if n.unique_id not in names]
    return done
