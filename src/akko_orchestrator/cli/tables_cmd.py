"""`akko tables` (with `--drop-audit`) and `akko query`: read the lakehouse, never change it (audit branches
aside, which are rejected data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, handle_errors
from akko_orchestrator.cli.output import JsonOption, print_json
from akko_orchestrator.cli.render import command_lines, hanging
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.sql.build import render as render_sql
from akko_orchestrator.sql.build import select_all

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


@app.command()
@handle_errors
def tables(
    table: Annotated[str | None, typer.Argument(help="namespace.table for details.")] = None,
    drop_audit: Annotated[
        bool,
        typer.Option(
            "--drop-audit",
            help="Remove the audit branches (rejected data of steps whose checks failed) of TABLE, or of every "
            "table. The next run of such a step replaces its branch anyway.",
        ),
    ] = False,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """List the lakehouse's tables (rows, files, size, last maintenance), or one table's files, schema,
    snapshots and branches."""
    from akko_orchestrator.lakehouse.catalog import open_catalog

    catalog = open_catalog(project_for(profile))
    if table is not None and not catalog.table_exists(table):
        raise AkkoError(f"no table {table}; `akko tables` lists them")
    if drop_audit:
        _drop_audit_branches(catalog, table)
    elif table is None:
        _list_tables(catalog, as_json)
    else:
        _table_detail(catalog, table, as_json)


def _list_tables(catalog: Catalog, as_json: bool) -> None:
    from akko_orchestrator.cli.render_tables import table_info_json, tables_view
    from akko_orchestrator.lakehouse import inspect

    infos = inspect.list_tables(catalog)
    if as_json:
        print_json({"tables": [table_info_json(i) for i in infos]})
        return
    console.print(tables_view(infos, console.width))
    left = sum(len(i.audit_branches) for i in infos)
    if left:
        console.print(
            f"{left} audit branch(es) hold data rejected by checks: `akko tables TABLE` shows them, "
            "`akko tables --drop-audit [TABLE]` removes them."
        )


def _table_detail(catalog: Catalog, table: str, as_json: bool) -> None:
    from akko_orchestrator.cli import render_tables as render
    from akko_orchestrator.lakehouse import inspect

    loaded = catalog.load_table(table)
    info = inspect.table_info(loaded, table)
    manifests = inspect.manifest_count(loaded)
    fields = render.schema_rows(loaded)
    snaps = inspect.snapshots(loaded)
    refs = inspect.branches(loaded)
    if as_json:
        print_json(
            {
                **render.table_info_json(info),
                "manifests": manifests,
                "schema": fields,
                "snapshots": [render.snapshot_json(s) for s in snaps],
                "branches": [render.branch_json(b) for b in refs],
            }
        )
        return
    width = console.width
    console.print(render.overview_view(info, manifests, width))
    console.print(render.schema_view(table, fields, width))
    console.print(render.snapshots_view(table, snaps, width))
    if not refs:
        console.print(f"{table} branches: main only")
        return
    console.print(render.branches_view(f"{table} branches (besides main)", refs, width))
    for ref in (r for r in refs if r.audit):
        console.print(
            f"{ref.name}: data rejected by the checks of {ref.written_by} (run {ref.run_id}); main was not "
            "changed. Query it:"
        )
        console.print(
            command_lines(
                ["akko", "query", render_sql(select_all(table)), "--at", f"{table}={ref.name}"], width
            ),
            soft_wrap=True,
        )
        console.print("Remove it:")
        console.print(command_lines(["akko", "tables", "--drop-audit", table], width), soft_wrap=True)


def _drop_audit_branches(catalog: Catalog, table: str | None) -> None:
    from akko_orchestrator.lakehouse import inspect
    from akko_orchestrator.lakehouse.wap import remove_branch

    names = [table] if table is not None else [i.name for i in inspect.list_tables(catalog)]
    removed = 0
    for name in names:
        for ref in inspect.branches(catalog.load_table(name)):
            if ref.audit and remove_branch(catalog, name, ref.name):
                removed += 1
                detail = (
                    f"{name} branch {ref.name} (snapshot {ref.snapshot_id}, {ref.rows} rows, "
                    f"written by {ref.written_by}, run {ref.run_id})"
                )
                console.print(hanging("removed", detail, console.width), soft_wrap=True)
    where = table or "any table"
    console.print(f"{removed} audit branch(es) removed." if removed else f"No audit branch on {where}.")


@app.command()
@handle_errors
def query(
    sql: Annotated[str, typer.Argument(help="A query in Trino SQL over namespace.table names.")],
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 100,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            help="TABLE=REF: read TABLE at a branch (e.g. an audit branch) or snapshot id instead of main; "
            "repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Query the lakehouse in Trino SQL (on DuckDB locally); read-only: SELECT, WITH, VALUES, TABLE, SHOW,
    DESCRIBE and EXPLAIN, anything else is refused before it runs."""
    from akko_orchestrator.cli.render_tables import query_view
    from akko_orchestrator.runtime.context import StepContext
    from akko_orchestrator.runtime.query import read_only_query, refuse_unless_read_only
    from akko_orchestrator.runtime.results import json_safe

    refuse_unless_read_only(sql)
    ctx = StepContext(project_for(profile), pipeline_id="cli", step_id="query")
    try:
        result = read_only_query(ctx, sql, _pinned_refs(ctx.catalog, at or []))
    finally:
        ctx.close()
    rows = [[json_safe(v) for v in r.values()] for r in result.slice(0, limit).to_pylist()]
    if as_json:
        print_json({"columns": result.column_names, "rows": rows, "row_count": result.num_rows})
        return
    console.print(query_view(f"{result.num_rows} row(s)", result.column_names, rows, console.width))
    if result.num_rows > limit:
        console.print(f"{result.num_rows - limit} more row(s) not shown (--limit).")


def _pinned_refs(catalog: Catalog, specs: list[str]) -> dict[str, int]:
    """`--at TABLE=REF` options to snapshot ids (REF: a branch or tag name, or a snapshot id)."""
    versions = {}
    for spec in specs:
        table_name, sep, ref = spec.partition("=")
        if not sep or not table_name or not ref:
            raise AkkoError(f"--at {spec}: expected TABLE=BRANCH or TABLE=SNAPSHOT_ID")
        if not catalog.table_exists(table_name):
            raise AkkoError(f"--at {spec}: no table {table_name}")
        table = catalog.load_table(table_name)
        if ref in table.metadata.refs:
            versions[table_name] = table.metadata.refs[ref].snapshot_id
        elif ref.isdigit() and table.metadata.snapshot_by_id(int(ref)) is not None:
            versions[table_name] = int(ref)
        else:
            raise AkkoError(
                f"--at {spec}: {table_name} has no branch, tag or snapshot '{ref}' "
                f"(refs: {', '.join(sorted(table.metadata.refs))}; snapshots: `akko tables {table_name}`)"
            )
    return versions
