"""`akko tables` (with `--drop-audit`) and `akko query`: read the lakehouse, never change it (audit branches
aside, which are rejected data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from akko_orchestrator.cli.app import ProfileOption, app, project_for
from akko_orchestrator.cli.console import console, handle_errors
from akko_orchestrator.errors import AkkoError

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
    profile: ProfileOption = None,
) -> None:
    """List the lakehouse's tables, or one table's schema, snapshots and branches."""
    from akko_orchestrator.cli.render import branches_table, rows_table
    from akko_orchestrator.lakehouse import inspect
    from akko_orchestrator.lakehouse.catalog import open_catalog

    catalog = open_catalog(project_for(profile))
    if table is not None and not catalog.table_exists(table):
        raise AkkoError(f"no table {table}; `akko tables` lists them")
    if drop_audit:
        _drop_audit_branches(catalog, table)
        return
    if table is None:
        infos = inspect.list_tables(catalog)
        rows = [
            [i.name, i.rows, i.snapshots, i.partitioning, i.updated, len(i.audit_branches) or "-"]
            for i in infos
        ]
        columns = ["table", "rows", "snapshots", "partitioning", "updated", "audit branches"]
        console.print(rows_table("tables", columns, rows))
        left = sum(len(i.audit_branches) for i in infos)
        if left:
            console.print(
                f"{left} audit branch(es) hold data rejected by checks: `akko tables TABLE` shows them, "
                "`akko tables --drop-audit [TABLE]` removes them."
            )
        return
    loaded = catalog.load_table(table)
    schema_rows = [
        [f.field_id, f.name, str(f.field_type), "required" if f.required else "optional"]
        for f in loaded.schema().fields
    ]
    console.print(rows_table(f"{table} schema", ["id", "column", "type", "null"], schema_rows))
    snaps = [
        [s.snapshot_id, s.committed, s.operation, s.added_rows, s.total_rows, s.written_by, ", ".join(s.refs)]
        for s in inspect.snapshots(loaded)
    ]
    console.print(
        rows_table(
            f"{table} snapshots",
            ["snapshot", "committed", "operation", "added", "total", "written by", "head of"],
            snaps,
        )
    )
    refs = inspect.branches(loaded)
    if not refs:
        console.print(f"{table} branches: main only")
        return
    console.print(branches_table(f"{table} branches (besides main)", refs))
    for ref in (r for r in refs if r.audit):
        console.print(
            f"{ref.name}: data rejected by the checks of {ref.written_by} (run {ref.run_id}); main was not "
            f'changed. Query it: `akko query "SELECT * FROM {table}" --at {table}={ref.name}`; remove it: '
            f"`akko tables --drop-audit {table}`.",
            soft_wrap=True,
        )


def _drop_audit_branches(catalog: Catalog, table: str | None) -> None:
    from akko_orchestrator.lakehouse import inspect
    from akko_orchestrator.lakehouse.wap import remove_branch

    names = [table] if table is not None else [i.name for i in inspect.list_tables(catalog)]
    removed = 0
    for name in names:
        for ref in inspect.branches(catalog.load_table(name)):
            if ref.audit and remove_branch(catalog, name, ref.name):
                removed += 1
                console.print(
                    f"removed {name} branch {ref.name} (snapshot {ref.snapshot_id}, {ref.rows} rows, "
                    f"written by {ref.written_by}, run {ref.run_id})",
                    soft_wrap=True,
                )
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
    profile: ProfileOption = None,
) -> None:
    """Query the lakehouse in Trino SQL (on DuckDB locally); read-only: SELECT, WITH, VALUES, TABLE, SHOW,
    DESCRIBE and EXPLAIN, anything else is refused before it runs."""
    from akko_orchestrator.cli.render import rows_table
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
    console.print(rows_table(f"{result.num_rows} row(s)", result.column_names, rows))


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
