"""Trino as the SQL engine of the `cluster` profile: the spec's Trino SQL runs as written, on the Trino reached through
the profile's Airflow connection (host, port, user, password or JWT, TLS and its `verify`, all from the connection,
through the Airflow Trino provider's `TrinoHook`). The result returns as Arrow with the types the DuckDB engine would
give the same query, so pyiceberg writes the same table schema on every profile.

Failures are Airflow's to retry: a step fails with an `AkkoError` saying what went wrong (Trino unreachable,
credentials refused, the query's own error with its line and column), never with a password or token in it. The one
wait done here is for a Trino that answers but is still starting (`SERVER_STARTING_UP`), up to `STARTING_WAIT`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from akko_orchestrator.config.models import TrinoSettings
from akko_orchestrator.engines.base import Capabilities, SqlEngine, pinned_versions
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project

BATCH_ROWS = 10_000  # rows fetched and converted to Arrow at a time
AGGREGATES_SESSION = {"distinct_aggregations_strategy": "mark_distinct"}  # see `query_aggregates`
STARTING_WAIT = 60.0  # seconds to wait for a Trino that reports SERVER_STARTING_UP
STARTING_POLL = 2.0
DEFAULT_PORTS = {"http": 8080, "https": 443}


# ---------------------------------------------------------------------------------------------------------------
# Trino result types -> Arrow


Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class ColumnType:
    """A Trino type as Arrow, and how to turn the client's Python value into a value of that Arrow type."""

    arrow: pa.DataType
    convert: Convert | None = None  # None: the client's value is already right


_SIMPLE: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double": pa.float64(),
    "varchar": pa.string(),
    "char": pa.string(),
    "json": pa.string(),
    "varbinary": pa.binary(),
    "date": pa.date32(),
}
_NESTED = ("array(", "map(", "row(")
# Parameterized and multi-word types, by their lower-case name in a result's description.
_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], ColumnType]]] = [
    (re.compile(r"(var)?char\(\d+\)"), lambda m: ColumnType(pa.string())),
    (re.compile(r"decimal\((\d+),\s*(\d+)\)"), lambda m: ColumnType(pa.decimal128(int(m[1]), int(m[2])))),
    (re.compile(r"timestamp(\(\d+\))?"), lambda m: ColumnType(pa.timestamp("us"))),
    (
        re.compile(r"timestamp(\(\d+\))? with time zone"),
        lambda m: ColumnType(pa.timestamp("us", tz="UTC"), _to_utc),
    ),
    (re.compile(r"time(\(\d+\))?"), lambda m: ColumnType(pa.time64("us"))),
    # like DuckDB's TIMETZ: the local time of day
    (re.compile(r"time(\(\d+\))? with time zone"), lambda m: ColumnType(pa.time64("us"), _without_zone)),
    (
        re.compile(r"interval day to second"),
        lambda m: ColumnType(pa.month_day_nano_interval(), _day_to_second),
    ),
    (
        re.compile(r"interval year to month"),
        lambda m: ColumnType(pa.month_day_nano_interval(), _year_to_month),
    ),
    (re.compile(r"uuid"), lambda m: ColumnType(pa.string(), str)),  # a string in DuckDB's results too
    (re.compile(r"unknown"), lambda m: ColumnType(pa.null())),  # the type of a bare NULL
]


def arrow_type(trino_type: str) -> ColumnType:
    """Arrow for a Trino type as Trino names it in a result's description (`cursor.description[i][1]`).

    The same Arrow types as DuckDB's results where both engines have the type (uuid is a string, json a string,
    timestamps microseconds, with time zone in UTC, intervals month-day-nano); types Arrow and Iceberg do not have
    (ipaddress, sketches, geometry...) become their text."""
    text = trino_type.strip()
    lower = text.lower()
    for prefix, build in zip(_NESTED, (_array, _map, _row), strict=True):
        if lower.startswith(prefix) and lower.endswith(")"):
            return build(text[len(prefix) : -1])
    if lower in _SIMPLE:
        return ColumnType(_SIMPLE[lower])
    for pattern, build_type in _PATTERNS:
        if match := pattern.fullmatch(lower):
            return build_type(match)
    return ColumnType(pa.string(), _text)


def _array(inner: str) -> ColumnType:
    element = arrow_type(inner)
    convert = element.convert
    return ColumnType(pa.list_(element.arrow), (lambda v: [convert(x) for x in v]) if convert else None)


def _map(inner: str) -> ColumnType:
    key_text, value_text = split_top_level(inner)
    key, value = arrow_type(key_text), arrow_type(value_text)
    convert_key = key.convert or _same
    convert_value = value.convert or _same
    return ColumnType(
        pa.map_(key.arrow, value.arrow), lambda v: [(convert_key(k), convert_value(x)) for k, x in v.items()]
    )


def _row(inner: str) -> ColumnType:
    names, types = [], []
    for index, part in enumerate(split_top_level(inner)):
        name, field_type = _row_field(part)
        names.append(name if name is not None else f"_col{index}")  # Trino's name for unnamed columns
        types.append(arrow_type(field_type))
    converters = [t.convert or _same for t in types]

    def convert(value: Any) -> dict[str, Any]:
        return {n: c(x) for n, c, x in zip(names, converters, value, strict=True)}

    struct = pa.struct([pa.field(n, t.arrow) for n, t in zip(names, types, strict=True)])
    return ColumnType(struct, convert)


def _row_field(text: str) -> tuple[str | None, str]:
    """`"a b" bigint`, `a bigint`, or an unnamed field's type (`bigint`, `timestamp(3) with time zone`)."""
    text = text.strip()
    if text.startswith('"'):
        end = 1
        while True:
            end = text.index('"', end)
            if text[end : end + 2] == '""':
                end += 2
                continue
            return text[1:end].replace('""', '"'), text[end + 1 :].strip()
    name, _, rest = text.partition(" ")
    if rest and "(" not in name and not _is_type(text):
        return name, rest.strip()
    return None, text


def _is_type(text: str) -> bool:
    """True when `text` as a whole is a Trino type name (so an unnamed row field, not `name type`)."""
    lower = text.lower()
    return (
        lower in _SIMPLE
        or any(pattern.fullmatch(lower) for pattern, _ in _PATTERNS)
        or (lower.startswith(_NESTED) and lower.endswith(")"))
    )


def split_top_level(text: str) -> list[str]:
    """Split a type's arguments on the commas outside parentheses and double quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _same(value: Any) -> Any:
    return value


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _without_zone(value: dt.time) -> dt.time:
    return value.replace(tzinfo=None)


def _day_to_second(value: dt.timedelta) -> pa.MonthDayNano:
    micros = value // dt.timedelta(microseconds=1)
    days, rest = divmod(abs(micros), 86_400_000_000)
    sign = -1 if micros < 0 else 1
    return pa.MonthDayNano([0, sign * days, sign * rest * 1000])


def _year_to_month(value: Any) -> pa.MonthDayNano:  # dateutil's relativedelta
    return pa.MonthDayNano([value.years * 12 + value.months, 0, 0])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _with_nulls(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def to_arrow(description: list[Any], rows: Iterator[list[Any]]) -> pa.Table:
    """A DB-API result (`description` with Trino type names, rows in batches) as one Arrow table."""
    names = [column[0] for column in description]
    types = [arrow_type(str(column[1])) for column in description]
    schema = pa.schema([pa.field(n, t.arrow) for n, t in zip(names, types, strict=True)])
    converters = [_with_nulls(t.convert) if t.convert else None for t in types]
    batches = []
    for batch in rows:
        columns = []
        for index, (column_type, convert) in enumerate(zip(types, converters, strict=True)):
            values = [row[index] for row in batch]
            if convert is not None:
                values = [convert(v) for v in values]
            columns.append(pa.array(values, type=column_type.arrow))
        batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


# ---------------------------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True)
class Endpoint:
    """What an error may name about the connection: never its password or token."""

    url: str  # http(s)://host:port
    user: str | None
    conn_id: str
    profile: str

    def where(self) -> str:
        return f"profile '{self.profile}', Airflow connection '{self.conn_id}'"


class TrinoEngine(SqlEngine):
    capabilities = Capabilities(dialect="trino", reads_iceberg_natively=True)

    def __init__(self, project: Project, catalog: Catalog):
        self.project = project
        self.catalog = catalog
        self.settings = project.profile.trino or TrinoSettings()
        self._conn: Any = None
        self._endpoint: Endpoint | None = None
        self._secrets: list[str] = []

    # -- SqlEngine -------------------------------------------------------------------------------------------

    def query(self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None) -> pa.Table:
        from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG

        sql = self._lakehouse_catalog(sql)
        pinned = pinned_versions(tables, versions)
        if pinned:
            sql = pin_versions(sql, pinned, (LAKEHOUSE_SQL_CATALOG, self.settings.catalog))
        deadline = time.monotonic() + STARTING_WAIT
        while True:
            cursor = self._connection().cursor()
            try:
                cursor.execute(sql)
                return to_arrow(cursor.description or [], _batches(cursor))
            except Exception as exc:
                if _is_starting(exc) and time.monotonic() < deadline:
                    time.sleep(STARTING_POLL)
                    continue
                raise self._error(exc, sql, tables) from None

    def query_aggregates(
        self, sql: str, tables: list[str], versions: Mapping[str, int] | None = None
    ) -> pa.Table:
        """Trino's default plan for `count(DISTINCT x)` beside other aggregates pre-aggregates and reads the table
        twice; the check statement mixes exactly these. Marking distinct values instead (still distributed by
        `x` on a multi-node cluster) ran it 2x faster on 1M rows here (benchmarks/bench_checks.py)."""
        session = self._connection()._client_session  # the trino client's session: per-request properties
        saved = dict(session.properties)
        session.properties = {**saved, **AGGREGATES_SESSION}
        try:
            return self.query(sql, tables, versions=versions)
        finally:
            session.properties = saved

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- connection ------------------------------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> Any:
        from airflow.providers.trino.hooks.trino import TrinoHook  # deferred: Airflow and the trino client

        conn_id = self.settings.conn_id
        hook = TrinoHook(trino_conn_id=conn_id)
        profile = self.project.profile_name
        try:
            connection = hook.get_connection(conn_id)
        except Exception as exc:
            if (
                type(exc).__name__ != "AirflowNotFoundException"
            ):  # its text may quote the URI, password included
                raise AkkoError(
                    f"cannot read Airflow connection '{conn_id}' for Trino (profile '{profile}'): "
                    f"{type(exc).__name__}; check its URI or fields"
                ) from None
            variable = f"AIRFLOW_CONN_{conn_id.upper()}"
            raise AkkoError(
                f"Airflow connection '{conn_id}' for Trino is not defined (profile '{profile}'): "
                f"add it to Airflow, or set {variable} (`akko stack up` writes it to the stack's env file)"
            ) from None
        self._describe(connection)
        try:
            conn = hook.get_conn()
        except Exception as exc:  # bad auth settings in the connection, TLS required for a password...
            raise AkkoError(f"cannot connect to Trino at {self._where()}: {self._scrub(str(exc))}") from None
        _set_session_catalog(conn, self.settings.catalog)
        if "verify" in connection.extra_dejson:
            _honor_verify(conn)
        return conn

    def _describe(self, connection: Any) -> None:
        extra = connection.extra_dejson
        scheme = str(extra.get("protocol") or "http").lower()
        host = connection.host or "localhost"
        port = connection.port or DEFAULT_PORTS.get(scheme, 8080)
        self._endpoint = Endpoint(
            f"{scheme}://{host}:{port}", connection.login, connection.conn_id, self.project.profile_name
        )
        self._secrets = [s for s in (connection.password, extra.get("jwt__token")) if s]

    def _where(self) -> str:
        endpoint = self._endpoint
        assert endpoint is not None
        return f"{endpoint.url} ({endpoint.where()})"

    def _lakehouse_catalog(self, sql: str) -> str:
        """Spec SQL names the lakehouse `iceberg` (iceberg.ns.table); on a Trino whose lakehouse catalog is named
        otherwise, rewrite those references. Unqualified `ns.table` resolves in the session catalog."""
        from akko_orchestrator.plan.sql_refs import LAKEHOUSE_SQL_CATALOG

        target = self.settings.catalog
        if target.lower() == LAKEHOUSE_SQL_CATALOG or LAKEHOUSE_SQL_CATALOG not in sql.lower():
            return sql
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read="trino")
        changed = False
        for table in tree.find_all(exp.Table):
            if table.catalog.lower() == LAKEHOUSE_SQL_CATALOG:
                table.set("catalog", exp.to_identifier(target))
                changed = True
        return tree.sql(dialect="trino") if changed else sql

    # -- errors --------------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, exc: Exception, sql: str, tables: list[str]) -> AkkoError:
        from requests import exceptions as http
        from trino import exceptions as trino_errors

        if isinstance(exc, trino_errors.TrinoQueryError):
            return self._query_error(exc, sql, tables)
        if isinstance(exc, trino_errors.TrinoConnectionError) and isinstance(
            exc.__context__, http.RequestException
        ):
            exc = exc.__context__  # the client wraps requests' error in its own, with requests' whole text
        endpoint = self._endpoint
        assert endpoint is not None
        if isinstance(exc, http.SSLError):
            return AkkoError(
                f"TLS with Trino failed at {self._where()}: {self._scrub(_reason(exc))} "
                "(check the server certificate, or the connection's `verify` extra)"
            )
        if isinstance(exc, http.ConnectionError | http.Timeout):
            return AkkoError(
                f"Trino is unreachable at {self._where()}: {self._scrub(_reason(exc))} "
                "(is it running? `akko stack status` shows the local stack)"
            )
        if isinstance(exc, trino_errors.HttpError) and str(exc).startswith("error 401"):
            return AkkoError(
                f"Trino authentication failed: it refused the credentials of user '{endpoint.user}' at "
                f"{self._where()} (HTTP 401); check the password or JWT of the Airflow connection"
            )
        if isinstance(exc, trino_errors.HttpError):
            return AkkoError(f"Trino answered with an HTTP error at {self._where()}: {self._scrub(str(exc))}")
        return AkkoError(
            f"Trino query failed at {self._where()}: {self._scrub(f'{type(exc).__name__}: {exc}')}"
        )

    def _query_error(self, exc: Any, sql: str, tables: list[str]) -> AkkoError:
        message = self._scrub(exc.message)
        if exc.error_name in ("TABLE_NOT_FOUND", "SCHEMA_NOT_FOUND") and tables:
            part = -1 if exc.error_name == "TABLE_NOT_FOUND" else 0  # the table's name, or its namespace
            missing = [t for t in tables if f"{t.split('.')[part].lower()}'" in message.lower()]
            if missing:
                return AkkoError(
                    f"table {missing[0]} does not exist yet: run the pipeline that writes it first "
                    f"(Trino: {message})"
                )
        location = exc.error_location
        if location and not message.startswith("line "):
            message = f"line {location[0]}:{location[1]}: {message}"
        return AkkoError(
            f"Trino could not run the query ({exc.error_name}, query {exc.query_id}): {message}"
            f"\n--- as run on Trino:\n{sql}"
        )


# ---------------------------------------------------------------------------------------------------------------
# Pinned snapshots


def pin_versions(sql: str, versions: Mapping[str, int], catalogs: Collection[str] = ("iceberg",)) -> str:
    """`sql` with every read of a table of `versions` ({"ns.table": snapshot_id}, case-insensitive) made a read of
    that snapshot: `ns.table [AS x]` -> `ns.table FOR VERSION AS OF <id> [AS x]` (Trino's grammar puts the version
    right after the name, before the alias). References `<catalog>.ns.table` are pinned for the lakehouse
    `catalogs` only; tables written to (INSERT INTO, MERGE INTO...) are not pinned.

    The clauses are inserted into the text, which is otherwise run as written (an error's line and column still
    point into the spec's SQL); sqlglot finds where."""
    import sqlglot
    from sqlglot import exp

    wanted = {name.lower(): int(snapshot_id) for name, snapshot_id in versions.items()}
    lakehouses = {c.lower() for c in catalogs}
    tree = sqlglot.parse_one(sql, read="trino")
    inserts: list[tuple[int, str]] = []
    for table in tree.find_all(exp.Table):
        key = _pinned(table, wanted, lakehouses)
        if key is None:
            continue
        if table.args.get("version") is not None:
            raise AkkoError(
                f"cannot pin table {key}: the query already reads it with FOR VERSION/TIMESTAMP AS OF"
            )
        end = table.this.meta.get("end")
        if end is None:  # not found in the text: regenerate it instead
            return _pin_in_tree(tree, wanted, lakehouses)
        inserts.append((end + 1, f" FOR VERSION AS OF {wanted[key]}"))
    for offset, clause in sorted(inserts, reverse=True):
        sql = sql[:offset] + clause + sql[offset:]
    return sql


def _pin_in_tree(tree: Any, wanted: Mapping[str, int], lakehouses: Collection[str]) -> str:
    from sqlglot import exp

    for table in tree.find_all(exp.Table):
        key = _pinned(table, wanted, lakehouses)
        if key is not None:
            version = exp.Version(this="VERSION", kind="AS OF", expression=exp.Literal.number(wanted[key]))
            table.set("version", version)
    return tree.sql(dialect="trino")


def _pinned(table: Any, wanted: Mapping[str, int], lakehouses: Collection[str]) -> str | None:
    """The key in `wanted` of a table reference to pin, None for the others."""
    key = f"{table.db}.{table.name}".lower()
    if key not in wanted or (table.catalog and table.catalog.lower() not in lakehouses) or _written(table):
        return None
    return key


def _written(table: Any) -> bool:
    """True for the table a statement writes to or describes, where Trino takes no version clause."""
    from sqlglot import exp

    node = table.parent if isinstance(table.parent, exp.Schema) else table  # INSERT INTO t (columns)
    parent = node.parent
    targets = (exp.Insert, exp.Merge, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Describe)
    return isinstance(parent, targets) and parent.args.get("this") is node


def _batches(cursor: Any) -> Iterator[list[Any]]:
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch


def _is_starting(exc: Exception) -> bool:
    return getattr(exc, "error_name", None) == "SERVER_STARTING_UP"


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, e.g. `Connection refused` (requests' own text repeats the URL
    and pool internals)."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"(certificate verify failed[^'\")]*)", r"(timed out)"):
        if match := re.search(pattern, text):
            return match.group(1).strip()
    return text


def _honor_verify(conn: Any) -> None:
    """The connection's `verify` extra (a CA file, or false) is the client session's `verify`, which requests
    replaces with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE when either is set (psf/requests#3829): a Trino with its own
    CA would then fail its certificate check on every machine that sets them. Keep the connection's choice; the
    environment's proxies still apply."""
    session = getattr(conn, "_http_session", None)
    if session is None:
        return
    merge = session.merge_environment_settings

    def keep_verify(url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        settings = merge(url, proxies, stream, verify, cert)
        if session.verify is not True:  # `true`: the default bundle, which the environment may well name
            settings["verify"] = session.verify
        return settings

    session.merge_environment_settings = keep_verify


def _set_session_catalog(conn: Any, catalog: str) -> None:
    """The session catalog is the profile's `trino.catalog`, whatever the connection's `catalog` extra says, so
    spec SQL naming `namespace.table` resolves in the lakehouse. The trino client has no public setter for it."""
    session = getattr(conn, "_client_session", None)
    if session is None:
        raise AkkoError(
            "the installed trino client has no session to set the catalog on: install trino 0.340"
        )
    session.catalog = catalog
    conn.catalog = catalog


def create(project: Project, catalog: Catalog) -> SqlEngine:
    return TrinoEngine(project, catalog)
