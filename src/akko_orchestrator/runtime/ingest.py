"""Ingest steps: files (one, or a glob fanned out and staged, then committed once), HTTP JSON APIs, SQL queries."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.arrow_io import keep_last_per_key, normalize, read_file, records_to_arrow
from akko_orchestrator.lakehouse.writer import WriteResult, write_table
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.spec.models import HttpSource, IngestStep, SqlSource


def list_files(ctx: StepContext, step: IngestStep) -> list[str]:
    files = ctx.object_store.glob(str(step.source.files))
    if not files:
        raise AkkoError(
            f"no file matches {step.source.files!r} (looked in {ctx.object_store.resolve(str(step.source.files))})"
        )
    log.info("%s: %d file(s) match %s", step.id, len(files), step.source.files)
    return files


def load_file(ctx: StepContext, step: IngestStep, path: str) -> pa.Table:
    try:
        data = ctx.object_store.read_bytes(path)
    except FileNotFoundError:
        raise AkkoError(f"file not found: {path}") from None
    table = read_file(data, str(step.source.file_format()), path)
    return normalize(table)


def stage_file(ctx: StepContext, step: IngestStep, path: str) -> str:
    """Fan-out half 1: parse one file into a staged Parquet object (no table changes)."""
    import pyarrow.parquet as pq

    table = load_file(ctx, step, path)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = ctx.staging_key(f"{max(ctx.map_index, 0):06d}.parquet")
    ctx.object_store.write_bytes(key, buffer.getvalue())
    log.info("%s: staged %d rows from %s", step.id, table.num_rows, path)
    return key


def commit_staged(ctx: StepContext, step: IngestStep, keys: list[str]) -> WriteResult:
    """Fan-out half 2: every staged file goes to the table in one commit, so the step is all or nothing."""
    import pyarrow.parquet as pq

    if not keys:
        raise AkkoError(f"{step.id}: nothing was staged")
    tables = [pq.read_table(io.BytesIO(ctx.object_store.read_bytes(k))) for k in sorted(keys)]
    data = pa.concat_tables(tables, promote_options="permissive")
    if step.output.mode == "merge":
        data = keep_last_per_key(data, list(step.output.keys))
    result = write_table(ctx.catalog, step.output, data, ctx.snapshot_properties)
    ctx.object_store.delete(ctx.staging_key(""))
    return result


def ingest(ctx: StepContext, step: IngestStep) -> WriteResult:
    """A non fanned-out ingest: read the source and write the table in one commit."""
    source = step.source
    if source.files is not None:
        data = pa.concat_tables(
            [load_file(ctx, step, f) for f in list_files(ctx, step)], promote_options="permissive"
        )
    elif source.http is not None:
        data = fetch_http(source.http)
    else:
        data = fetch_sql(source.sql)  # type: ignore[arg-type]
    return write_table(ctx.catalog, step.output, data, ctx.snapshot_properties)


def fetch_http(source: HttpSource) -> pa.Table:
    if source.conn_id is not None:
        from airflow.providers.http.hooks.http import HttpHook

        response = HttpHook(method="GET", http_conn_id=source.conn_id).run(
            source.endpoint, data=source.params
        )
        where = f"connection {source.conn_id} {source.endpoint}"
    else:
        import requests

        where = str(source.url) + source.endpoint
        try:
            response = requests.get(where, params=source.params, timeout=60)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise AkkoError(f"HTTP request to {where} failed: {exc}") from None
    return records_to_arrow(_dig(response.json(), source.records, where), where)


def _dig(payload: Any, path: str | None, where: str) -> Any:
    for part in (path or "").split(".") if path else []:
        if not isinstance(payload, dict) or part not in payload:
            raise AkkoError(f"{where}: the response has no `{path}` (stopped at `{part}`)")
        payload = payload[part]
    return payload


def fetch_sql(source: SqlSource, batch_rows: int = 50_000) -> pa.Table:
    """Run a query over an Airflow connection (any DB-API hook), streaming rows in batches into Arrow."""
    from contextlib import closing

    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(source.conn_id).get_hook()
    batches: list[pa.RecordBatch] = []
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
        cursor.execute(source.query)
        columns = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(batch_rows):
            batches.append(pa.RecordBatch.from_pylist([dict(zip(columns, r, strict=True)) for r in rows]))
    if not batches:
        raise AkkoError(f"query on connection {source.conn_id} returned no rows")
    return (
        pa.Table.from_batches(batches).combine_chunks()
        if len(batches) == 1
        else pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
    )
