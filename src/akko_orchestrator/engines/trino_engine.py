"""Trino as the SQL engine of the `cluster` profile: the spec's Trino SQL runs as written, on the Trino reached through
the profile's Airflow connection (host, port, user, password or JWT, TLS and its `verify`, all from the connection,
through the Airflow Trino provider's `TrinoHook`). The result returns as Arrow with the types the DuckDB engine would
give the same query, so pyiceberg writes the same table schema on every profile.

Failures are Airflow's to retry: a step fails with an `AkkoError` saying what went wrong (Trino unreachable,
credentials refused, the query's own error with its line and column), never with a password or token in it. The one
wait done here is for a Trino that answers but is still starting (`SERVER_STARTING_UP`), up to `STARTING_WAIT`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from akko_orchestrator.config.models import TrinoSettings
from akko_orchestrator.engines.base import Capabilities, SqlEngine, pinned_versions
from akko_orchestrator.engines.trino_pins import pin_versions
from akko_orchestrator.engines.trino_types import to_arrow
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from akko_orchestrator.config.project import Project

BATCH_ROWS = 10_000  # rows fetched and converted to Arrow at a time
AGGREGATES_SESSION = {"distinct_aggregations_strategy": "mark_distinct"}  # see `query_aggregates`
STARTING_WAIT = 60.0  # seconds to wait for a Trino that reports SERVER_STARTING_UP
STARTING_POLL = 2.0
DEFAULT_PORTS = {"http": 8080, "https": 443}


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

        sql = self._lakehouse_catalog(_without_final_semicolon(sql))
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

        from akko_orchestrator.sql.build import identifier

        tree = sqlglot.parse_one(sql, read="trino")
        changed = False
        for table in tree.find_all(exp.Table):
            if table.catalog.lower() == LAKEHOUSE_SQL_CATALOG:
                table.set("catalog", identifier(target))
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


def _without_final_semicolon(sql: str) -> str:
    """Trino's client refuses a statement ending in `;` (a spec's one query may end with one): the text up to
    that last token, found by sqlglot's tokenizer (a `;` inside a string or comment is no terminator)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType

    from akko_orchestrator.plan.sql_refs import TRINO

    tokens = Dialect.get_or_raise(TRINO).tokenize(sql)
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        return sql[: tokens[-1].start].rstrip()
    return sql
