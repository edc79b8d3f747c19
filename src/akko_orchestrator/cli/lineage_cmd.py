"""`akko lineage TABLE [--column C]`: where a table (or one of its columns) comes from and what it feeds, across
pipelines, as two trees, from the OpenLineage events AKKO's runs stored in the local event log."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, handle_errors
from akko_orchestrator.cli.output import JsonOption, print_json
from akko_orchestrator.errors import AkkoError


@app.command()
@handle_errors
def lineage(
    table: Annotated[str, typer.Argument(help="namespace.table (or a file/source as the tree shows it).")],
    column: Annotated[str | None, typer.Option("--column", "-c", help="Follow one column.")] = None,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Upstream and downstream tables (or columns) of TABLE, from the lineage events of past runs."""
    from akko_orchestrator.lineage.graph import read_graph, walk
    from akko_orchestrator.lineage.settings import event_log

    project = project_for(profile)
    log = event_log(project)
    graph = read_graph(log)
    if table not in graph.datasets:
        known = ", ".join(sorted(d for d in graph.datasets if "/" not in d)[:12]) or "none yet"
        raise AkkoError(
            f"no lineage of {table} in {log} (tables with lineage: {known}); runs record it unless akko.yaml "
            "sets `lineage: {transport: off}`"
        )
    if column is None:
        up, down = walk(graph.upstream, table), walk(graph.downstream, table)
        jobs = sorted(graph.jobs.get(table, ()))
        label = f"[bold]{escape(table)}[/bold] (written by {escape(', '.join(jobs)) or 'no job'})"
    else:
        key = (table, column)
        if key not in graph.columns_up and key not in graph.columns_down:
            raise AkkoError(f"no column lineage of {table}.{column} (steps record it for SQL and dbt models)")
        up, down = walk(graph.columns_up, key), walk(graph.columns_down, key)
        jobs = []
        label = f"[bold]{escape(table)}.{escape(column)}[/bold]"
    if as_json:
        trees = {"upstream": _json_tree(up), "downstream": _json_tree(down)}
        print_json({"table": table, "column": column, "written_by": jobs, **trees})
        return
    for title, children in (("upstream: made from", up), ("downstream: feeds", down)):
        tree = Tree(f"{label} · {title}")
        _grow(tree, children)
        console.print(tree if children else f"{label} · {title}: nothing")


def _grow(tree: Tree, children: list) -> None:
    for node, grandchildren in children:
        text = f"{node[0]}.{node[1]}" if isinstance(node, tuple) else str(node)
        _grow(tree.add(Text(text)), grandchildren)  # a name, never markup


def _json_tree(children: list) -> list[dict[str, Any]]:
    """Nodes as `{"dataset", "column" (None for a table), "children"}`."""
    return [
        {
            "dataset": node[0] if isinstance(node, tuple) else str(node),
            "column": node[1] if isinstance(node, tuple) else None,
            "children": _json_tree(grandchildren),
        }
        for node, grandchildren in children
    ]
