"""Ingest steps: files (one, or a glob fanned out and staged, then committed once: runtime/ingest_files.py), HTTP
JSON APIs, SQL queries."""

from __future__ import annotations

import decimal
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.arrow_io import records_to_arrow
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.ingest_files import (
    commit_staged,
    ingest_files,
    list_files,
    load_file,
    stage_file,
)
from akko_orchestrator.runtime.publish import write_arrow
from akko_orchestrator.spec.models import HttpSource, IngestStep, SqlSource

__all__ = ["commit_staged", "fetch_http", "fetch_sql", "ingest", "list_files", "load_file", "stage_file"]


def ingest(ctx: StepContext, step: IngestStep) -> WriteResult:
    """A non fanned-out ingest: read the source and write the table in one commit."""
    source = step.source
    if source.files is not None:
        return ingest_files(ctx, step)
    if source.http is not None:
        if source.http.conn_id is not None:
            ctx.allow_connection(source.http.conn_id)  # the hook fetches it itself
        ctx.lineage.urls.append(http_url(source.http))
        data = fetch_http(source.http)
    else:
        ctx.allow_connection(source.sql.conn_id)  # type: ignore[union-attr]
        ctx.lineage.sql_sources.append((source.sql.conn_id, source.sql.query))  # type: ignore[union-attr]
        data = fetch_sql(source.sql, ctx=ctx)  # type: ignore[arg-type]
    return write_arrow(ctx, step.output, step.checks, data)


def http_url(source: HttpSource) -> str:
    """The URL an HTTP source requests (its connection's host for `conn_id`), without query parameters."""
    if source.url is not None:
        return _join_url(source.url, source.endpoint)
    try:
        from airflow.providers.http.hooks.http import HttpHook

        return HttpHook(method="GET", http_conn_id=source.conn_id).url_from_endpoint(source.endpoint)
    except Exception:  # an unreadable connection fails the fetch itself, with its own message
        return f"http://{source.conn_id}/{source.endpoint.lstrip('/')}"


HTTP_TIMEOUT = 60.0  # seconds per request, unless the Airflow connection's extra sets `timeout`


def fetch_http(source: HttpSource) -> pa.Table:
    """GET a JSON API (a URL, or an Airflow HTTP connection + endpoint); the records are at `records`.

    Every failure (unreachable host, HTTP error status, a body that is not JSON, a missing `records` path) is an
    AkkoError naming the URL requested.
    """
    import requests

    if source.conn_id is not None:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="GET", http_conn_id=source.conn_id)
        url = _request_url(hook.url_from_endpoint(source.endpoint), source.params)
        where = f"{url} (Airflow connection {source.conn_id})"
        timeout = hook.get_connection(source.conn_id).extra_dejson.get("timeout") or HTTP_TIMEOUT
        options = {"check_response": False, "timeout": timeout}
        try:
            response = hook.run(source.endpoint, data=source.params, extra_options=options)
        except requests.RequestException as exc:
            raise AkkoError(f"HTTP GET {where} failed: {_http_reason(exc)}") from None
    else:
        url = _request_url(_join_url(str(source.url), source.endpoint), source.params)
        where = url
        try:
            response = requests.get(url, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise AkkoError(f"HTTP GET {where} failed: {_http_reason(exc)}") from None
    if response.status_code >= 400:
        body = " ".join(response.text.split())[:200]
        raise AkkoError(
            f"HTTP GET {where} returned {response.status_code} {response.reason}"
            + (f": {body}" if body else "")
        )
    try:
        payload = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type") or "no content type"
        raise AkkoError(f"HTTP GET {where}: the response is not JSON ({kind})") from None
    return records_to_arrow(_dig(payload, source.records, url), url)


def _join_url(base: str, endpoint: str) -> str:
    """`url` + `endpoint` with exactly one slash between them (as Airflow's HttpHook joins them)."""
    if not endpoint:
        return base
    if base.endswith("/") and endpoint.startswith("/"):
        return base + endpoint[1:]
    if not base.endswith("/") and not endpoint.startswith("/"):
        return f"{base}/{endpoint}"
    return base + endpoint


def _request_url(url: str, params: dict[str, str]) -> str:
    import requests

    return str(requests.Request("GET", url, params=params).prepare().url)


def _http_reason(exc: Exception) -> str:
    """urllib3's innermost reason ("Failed to establish a new connection: [Errno 111] Connection refused")."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    text = str(reason or exc)
    if text.startswith(("HTTPConnection(", "HTTPSConnection(")):
        text = text.split("): ", 1)[-1]
    return f"{type(exc).__name__}: {text}"


def _dig(payload: Any, path: str | None, where: str) -> Any:
    for part in (path or "").split(".") if path else []:
        if not isinstance(payload, dict) or part not in payload:
            raise AkkoError(f"{where}: the response has no `{path}` (stopped at `{part}`)")
        payload = payload[part]
    return payload


def fetch_sql(source: SqlSource, batch_rows: int = 50_000, ctx: StepContext | None = None) -> pa.Table:
    """Run a query over an Airflow connection (any DB-API hook), streaming rows in batches into Arrow.

    On PostgreSQL (psycopg 3 or psycopg2) the rows stream through a server-side cursor, and every column gets
    the Arrow type of its declared SQL type (so a column that is NULL in every row keeps its type and
    `numeric(12, 2)` is `decimal(12, 2)` whatever the values); other drivers' columns are inferred from the
    values. Connection and query errors are AkkoErrors naming the connection, with its password redacted. A
    step's fetch (`ctx`) goes through `StepContext.connection`: its team's `connections` first.
    """
    from contextlib import closing

    if ctx is not None:
        connection = ctx.connection(source.conn_id)
    else:
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(source.conn_id)
    hook = connection.get_hook()
    secrets = (connection.password,)
    try:
        conn = hook.get_conn()
    except Exception as exc:  # the driver's own error types: DB-API gives them no common base
        raise AkkoError(
            f"cannot connect to the database of Airflow connection {source.conn_id}: {_redact(exc, secrets)}"
        ) from None
    with closing(conn):
        postgres = type(conn).__module__.split(".")[0] in ("psycopg", "psycopg2")
        try:
            with closing(_cursor(conn, postgres, source.query)) as cursor:
                cursor.execute(source.query)
                table = _read_batches(cursor, batch_rows, postgres, source.conn_id)
        except AkkoError:
            raise
        except Exception as exc:
            raise AkkoError(
                f"query on Airflow connection {source.conn_id} failed: {_redact(exc, secrets)}"
            ) from None
    if table is None:
        raise AkkoError(f"query on connection {source.conn_id} returned no rows")
    return table


def _redact(exc: BaseException, secrets: tuple[str | None, ...]) -> str:
    """The driver's message without the password; PostgreSQL's own words when the server answered."""
    diag = getattr(exc, "diag", None)  # psycopg / psycopg2: the server's message without the query excerpt
    primary = getattr(diag, "message_primary", None)
    if primary:
        hint = getattr(diag, "message_hint", None)
        text = f"{primary} (hint: {hint})" if hint else str(primary)
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


_QUERY_START = re.compile(
    r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*\(*\s*(select|with|values|table)\b", re.I | re.S
)


def _cursor(conn: Any, postgres: bool, query: str) -> Any:
    """A server-side (named) cursor for a PostgreSQL query, so `fetchmany` streams instead of loading the whole
    result; statements a cursor cannot be declared for (SHOW, ...) use a client-side one."""
    if postgres and _QUERY_START.match(query):
        import uuid

        return conn.cursor(name=f"akko_ingest_{uuid.uuid4().hex}")
    return conn.cursor()


def _read_batches(cursor: Any, batch_rows: int, postgres: bool, conn_id: str) -> pa.Table | None:
    batches: list[pa.RecordBatch] = []
    columns: list[_Column] | None = None
    while rows := cursor.fetchmany(batch_rows):
        if columns is None:  # a named psycopg2 cursor describes its columns only after the first fetch
            columns = _describe(cursor.description, postgres, conn_id)
        batches.append(_to_batch(rows, columns, conn_id))
    if not batches:
        return None
    if len(batches) == 1:
        return pa.Table.from_batches(batches)
    return pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")


@dataclass(frozen=True)
class _Column:
    name: str
    arrow: pa.DataType | None = None  # None: inferred from the values
    convert: Callable[[Any], Any] | None = None  # applied to each non-NULL value first


# PostgreSQL type OIDs (pg_type.oid: fixed for built-in types) -> the Arrow type Iceberg stores them as.
_PG_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    18: pa.string(),  # "char"
    19: pa.string(),  # name
    20: pa.int64(),
    21: pa.int32(),  # smallint: Iceberg has no 16-bit integer
    23: pa.int32(),
    25: pa.string(),
    26: pa.int64(),  # oid
    700: pa.float32(),
    701: pa.float64(),
    1042: pa.string(),  # char(n)
    1043: pa.string(),  # varchar
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    2950: pa.uuid(),
}
_PG_BYTEA = 17
_PG_NUMERIC = 1700
_PG_JSON = frozenset({114, 3802})  # json, jsonb: JSON text (documents vary from row to row)
# xml, cidr, macaddr8, money, macaddr, inet, interval, timetz, bit, varbit: no Iceberg type, kept as text
_PG_TEXT = frozenset({142, 650, 774, 790, 829, 869, 1186, 1266, 1560, 1562})
UNCONSTRAINED_NUMERIC = pa.decimal128(38, 18)  # `numeric` without precision: what Spark's JDBC reader uses
_DECIMAL_CONTEXT = decimal.Context(prec=80)


def _describe(description: Any, postgres: bool, conn_id: str) -> list[_Column]:
    names = [str(d[0]) for d in description]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AkkoError(
            f"query on connection {conn_id} returns several columns named {', '.join(duplicates)}: "
            "give each a distinct alias"
        )
    if not postgres:
        return [_Column(name) for name in names]
    return [_pg_column(name, d[1], d[4], d[5]) for name, d in zip(names, description, strict=True)]


def _pg_column(name: str, oid: int, precision: int | None, scale: int | None) -> _Column:
    if oid in _PG_TYPES:
        return _Column(name, _PG_TYPES[oid])
    if oid == _PG_NUMERIC:
        if precision is not None and scale is not None and 0 < precision <= 38 and 0 <= scale <= precision:
            return _Column(name, pa.decimal128(precision, scale))
        return _Column(name, UNCONSTRAINED_NUMERIC, functools.partial(_unconstrained_decimal, name))
    if oid == _PG_BYTEA:
        return _Column(name, pa.binary(), bytes)
    if oid in _PG_JSON:
        return _Column(name, pa.string(), _json_text)
    if oid in _PG_TEXT:
        return _Column(name, pa.string(), str)
    return _Column(name)  # arrays, enums, extension types: inferred from the values


def _unconstrained_decimal(column: str, value: decimal.Decimal) -> decimal.Decimal:
    scale = UNCONSTRAINED_NUMERIC.scale
    if not value.is_finite() or value.adjusted() >= UNCONSTRAINED_NUMERIC.precision - scale:
        raise AkkoError(
            f"column {column}: {value} does not fit decimal(38, {scale}), the type of a `numeric` without "
            "precision; cast it in the query (e.g. `CAST(x AS numeric(38, 2))`)"
        )
    return value.quantize(decimal.Decimal(1).scaleb(-scale), decimal.ROUND_HALF_EVEN, _DECIMAL_CONTEXT)


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _to_batch(rows: list[Any], columns: list[_Column], conn_id: str) -> pa.RecordBatch:
    if isinstance(rows[0], Mapping):  # a connection configured with a dict cursor
        rows = [[row[c.name] for c in columns] for row in rows]
    arrays = [_to_array([row[i] for row in rows], column, conn_id) for i, column in enumerate(columns)]
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def _to_array(values: list[Any], column: _Column, conn_id: str) -> pa.Array:
    if column.convert is not None:
        values = [None if v is None else column.convert(v) for v in values]
    try:
        return pa.array(values, type=column.arrow)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        if column.arrow is None:  # values Arrow cannot infer (ranges, composite types...): their text
            return pa.array([None if v is None else str(v) for v in values], pa.string())
        raise AkkoError(
            f"query on connection {conn_id}: column {column.name} does not convert to {column.arrow}: {exc}"
        ) from None
