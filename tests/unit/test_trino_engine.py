"""TrinoEngine without a Trino: its type mapping, and the real client and Airflow hook against a small fake Trino
over HTTPS (a self-signed certificate) that answers the protocol's first request: results, query errors, HTTP 401,
a server still starting. The engine against the real Trino is tests/integration/test_sql_parity.py."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from akko_orchestrator.config.models import ProjectConfig
from akko_orchestrator.config.project import Project
from akko_orchestrator.engines import trino_engine, trino_pins
from akko_orchestrator.engines.registry import create_engine
from akko_orchestrator.engines.trino_engine import TrinoEngine
from akko_orchestrator.engines.trino_types import arrow_type, split_top_level, to_arrow
from akko_orchestrator.errors import AkkoError

USER, PASSWORD = "akko", "s3cret-Pa55word"

# ---------------------------------------------------------------------------------------------------------------
# Types


@pytest.mark.parametrize(
    ("trino", "arrow"),
    [
        ("boolean", pa.bool_()),
        ("tinyint", pa.int8()),
        ("smallint", pa.int16()),
        ("integer", pa.int32()),
        ("bigint", pa.int64()),
        ("real", pa.float32()),
        ("double", pa.float64()),
        ("decimal(12, 2)", pa.decimal128(12, 2)),
        ("decimal(38,0)", pa.decimal128(38, 0)),
        ("varchar", pa.string()),
        ("varchar(3)", pa.string()),
        ("char(2)", pa.string()),
        ("json", pa.string()),
        ("uuid", pa.string()),
        ("varbinary", pa.binary()),
        ("date", pa.date32()),
        ("time(3)", pa.time64("us")),
        ("time(6) with time zone", pa.time64("us")),
        ("timestamp(3)", pa.timestamp("us")),
        ("timestamp(9)", pa.timestamp("us")),
        ("timestamp(6) with time zone", pa.timestamp("us", tz="UTC")),
        ("INTERVAL DAY TO SECOND", pa.month_day_nano_interval()),
        ("INTERVAL YEAR TO MONTH", pa.month_day_nano_interval()),
        ("unknown", pa.null()),
        ("ipaddress", pa.string()),
        ("array(bigint)", pa.list_(pa.int64())),
        ("array(array(varchar(1)))", pa.list_(pa.list_(pa.string()))),
        ("map(varchar(1), integer)", pa.map_(pa.string(), pa.int32())),
        (
            'row("x y" bigint, b varchar(3), "c,d" decimal(4, 1))',
            pa.struct([("x y", pa.int64()), ("b", pa.string()), ("c,d", pa.decimal128(4, 1))]),
        ),
        (
            "row(integer, timestamp(3) with time zone, date date)",
            pa.struct(
                [("_col0", pa.int32()), ("_col1", pa.timestamp("us", tz="UTC")), ("date", pa.date32())]
            ),
        ),
        (
            "array(row(a map(varchar, array(double))))",
            pa.list_(pa.struct([("a", pa.map_(pa.string(), pa.list_(pa.float64())))])),
        ),
    ],
)
def test_trino_types_become_the_arrow_types_duckdb_gives(trino: str, arrow: pa.DataType) -> None:
    assert arrow_type(trino).arrow == arrow


def test_split_top_level_respects_parentheses_and_quotes() -> None:
    assert split_top_level('a decimal(4, 1), "x, y" map(varchar, row(b int, c int)), d') == [
        "a decimal(4, 1)",
        '"x, y" map(varchar, row(b int, c int))',
        "d",
    ]


def test_values_are_converted_to_their_arrow_types() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    description = [
        ("at", "timestamp(3) with time zone"),
        ("id", "uuid"),
        ("pair", "row(x bigint, y varchar)"),
        ("tags", "map(varchar, array(integer))"),
        ("span", "interval day to second"),
        ("months", "interval year to month"),
        ("nothing", "unknown"),
        ("ip", "ipaddress"),
        ("price", "decimal(5, 2)"),
    ]

    class Months:  # what dateutil's relativedelta offers
        years, months = 1, 2

    row = [
        dt.datetime(2024, 1, 1, 1, 0, tzinfo=paris),
        __import__("uuid").UUID("12345678-1234-5678-1234-567812345678"),
        (7, "seven"),
        {"a": [1, None]},
        dt.timedelta(days=-1, seconds=3600),
        Months(),
        None,
        ipaddress.ip_address("10.0.0.1"),
        decimal.Decimal("1.50"),
    ]
    table = to_arrow(description, iter([[row, [None] * len(row)]]))
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    first, empty = table.to_pylist()
    assert first["at"] == dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert first["id"] == "12345678-1234-5678-1234-567812345678"
    assert first["pair"] == {"x": 7, "y": "seven"} and first["tags"] == [("a", [1, None])]
    assert first["span"] == pa.MonthDayNano([0, 0, -23 * 3600 * 10**9])
    assert first["months"] == pa.MonthDayNano([14, 0, 0])
    assert first["ip"] == "10.0.0.1" and first["price"] == decimal.Decimal("1.50")
    assert set(empty.values()) == {None}


def test_an_empty_result_keeps_its_schema() -> None:
    table = to_arrow([("n", "bigint"), ("s", "varchar")], iter([]))
    assert table.num_rows == 0 and table.schema == pa.schema([("n", pa.int64()), ("s", pa.string())])


# ---------------------------------------------------------------------------------------------------------------
# Pinned snapshots: the SQL rewrite


def _versions_read(sql: str) -> list[tuple[str, str | None, str | None]]:
    """Each table reference of `sql` as Trino would parse it: (catalog.ns.table, version, alias)."""
    import sqlglot
    from sqlglot import exp

    found = []
    for table in sqlglot.parse_one(sql, read="trino").find_all(exp.Table):
        version = table.args.get("version")
        found.append(
            (
                ".".join(p.name for p in table.parts).lower(),
                version.expression.name if version is not None else None,
                table.alias or None,
            )
        )
    return sorted(found, key=str)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT count(*) FROM demo.sales", "SELECT count(*) FROM demo.sales FOR VERSION AS OF 42"),
        ("SELECT * FROM iceberg.demo.sales s", "SELECT * FROM iceberg.demo.sales FOR VERSION AS OF 42 s"),
        (
            'SELECT * FROM "DEMO"."Sales" AS s WHERE s.id > 1',
            'SELECT * FROM "DEMO"."Sales" FOR VERSION AS OF 42 AS s WHERE s.id > 1',
        ),
        (
            "select x from LAKE.Demo.SALES as t(x)",
            "select x from LAKE.Demo.SALES FOR VERSION AS OF 42 as t(x)",
        ),
        (  # the version clause comes before TABLESAMPLE too (Trino: relationPrimary, then alias, then sample)
            "SELECT * FROM demo.sales TABLESAMPLE BERNOULLI (50)",
            "SELECT * FROM demo.sales FOR VERSION AS OF 42 TABLESAMPLE BERNOULLI (50)",
        ),
    ],
)
def test_pinned_table_references_read_the_snapshot(sql: str, expected: str) -> None:
    assert trino_pins.pin_versions(sql, {"demo.sales": 42}, ("iceberg", "lake")) == expected


def test_every_reference_is_pinned_and_only_those_of_pinned_tables() -> None:
    sql = """-- café: offsets count characters
WITH sales AS (SELECT 1 AS id)  -- a CTE named like the table: not the table
SELECT 'é – №' AS text, s.id
FROM demo.sales s
JOIN iceberg.demo.regions r ON r.region = s.region
JOIN (SELECT id FROM iceberg.demo.sales) AS again ON again.id = s.id
LEFT JOIN postgresql.demo.sales AS operational ON operational.id = s.id
WHERE EXISTS (SELECT 1 FROM demo.SALES x WHERE x.id = s.id) AND s.id IN (SELECT id FROM sales)"""
    pinned = trino_pins.pin_versions(sql, {"Demo.Sales": 7}, ("iceberg",))
    assert pinned.replace(" FOR VERSION AS OF 7", "") == sql  # the rest of the text as written
    assert _versions_read(pinned) == sorted(
        [
            ("demo.sales", "7", "s"),
            ("iceberg.demo.regions", None, "r"),
            ("iceberg.demo.sales", "7", None),
            ("postgresql.demo.sales", None, "operational"),  # another catalog: another table
            ("demo.sales", "7", "x"),
            ("sales", None, None),
        ],
        key=str,
    )


def test_a_join_of_a_pinned_table_with_an_unpinned_one() -> None:
    sql = "SELECT * FROM iceberg.demo.sales s JOIN demo.regions r ON r.region = s.region"
    assert trino_pins.pin_versions(sql, {"demo.sales": 1, "demo.other": 2}) == (
        "SELECT * FROM iceberg.demo.sales FOR VERSION AS OF 1 s JOIN demo.regions r ON r.region = s.region"
    )
    both = trino_pins.pin_versions(sql, {"demo.sales": 1, "demo.regions": 2})
    assert _versions_read(both) == [("demo.regions", "2", "r"), ("iceberg.demo.sales", "1", "s")]


def test_tables_written_to_are_not_pinned() -> None:
    insert = trino_pins.pin_versions(
        "INSERT INTO demo.sales (id) SELECT id + 1 FROM demo.sales", {"demo.sales": 3}
    )
    assert insert == "INSERT INTO demo.sales (id) SELECT id + 1 FROM demo.sales FOR VERSION AS OF 3"
    merge = trino_pins.pin_versions(
        "MERGE INTO demo.sales t USING demo.sales s ON t.id = s.id WHEN MATCHED THEN DELETE",
        {"demo.sales": 3},
    )
    assert (
        merge
        == "MERGE INTO demo.sales t USING demo.sales FOR VERSION AS OF 3 s ON t.id = s.id WHEN MATCHED THEN DELETE"
    )


def test_a_query_that_already_travels_in_time_cannot_be_pinned() -> None:
    with pytest.raises(AkkoError, match="already reads it with FOR VERSION/TIMESTAMP AS OF"):
        trino_pins.pin_versions("SELECT * FROM demo.sales FOR VERSION AS OF 1", {"demo.sales": 2})


def test_the_regenerated_sql_pins_the_same_references() -> None:
    """The fallback when a reference has no position in the text: sqlglot writes the whole query."""
    import sqlglot

    sql = "SELECT * FROM iceberg.demo.sales s JOIN demo.regions r ON r.region = s.region, other.demo.sales o"
    regenerated = trino_pins._pin_in_tree(
        sqlglot.parse_one(sql, read="trino"), {"demo.sales": 5}, {"iceberg"}
    )
    assert regenerated == (
        "SELECT * FROM iceberg.demo.sales FOR VERSION AS OF 5 AS s JOIN demo.regions AS r ON r.region = s.region, "
        "other.demo.sales AS o"
    )
    assert _versions_read(regenerated) == _versions_read(trino_pins.pin_versions(sql, {"demo.sales": 5}))


# ---------------------------------------------------------------------------------------------------------------
# A fake Trino over HTTPS


@dataclass
class FakeTrino:
    port: int
    ca_file: Path
    answers: list[dict[str, Any]] = field(default_factory=list)  # one JSON answer per statement, in order
    received: list[dict[str, Any]] = field(default_factory=list)  # what each request carried

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake trino")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def fake_trino(tmp_path: Path) -> Iterator[FakeTrino]:
    cert_file, key_file = _certificate(tmp_path)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            fake.received.append({"sql": body, **{k.lower(): v for k, v in self.headers.items()}})
            if self.headers.get("Authorization") != expected:
                self._send(401, b"Unauthorized", "text/plain")
                return
            answer = fake.answers.pop(0) if fake.answers else {"error": {"message": "no answer left"}}
            info = f"https://127.0.0.1:{fake.port}/ui/query.html?q1"
            self._send(
                200,
                json.dumps({"id": "q1", "infoUri": info, "stats": {"state": "FINISHED"}, **answer}).encode(),
            )

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake = FakeTrino(server.server_address[1], cert_file)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def _project(tmp_path: Path, conn_id: str = "fake_trino", catalog: str = "lakehouse") -> Project:
    config = ProjectConfig.model_validate(
        {
            "profiles": {
                "prod": {
                    "engine": "cluster",
                    "catalog": {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db"},
                    "object_store": {"uri": str(tmp_path / "objects")},
                    "trino": {"conn_id": conn_id, "catalog": catalog},
                    "spark": {"remote": "sc://127.0.0.1:15002"},
                }
            }
        }
    )
    return Project(root=tmp_path, config=config, profile_name="prod")


def _connect(
    monkeypatch: pytest.MonkeyPatch, fake: FakeTrino, password: str = PASSWORD, **extra: str
) -> None:
    from urllib.parse import urlencode

    query = urlencode({"catalog": "hive", "protocol": "https", "verify": str(fake.ca_file), **extra})
    monkeypatch.setenv("AIRFLOW_CONN_FAKE_TRINO", f"trino://{USER}:{password}@127.0.0.1:{fake.port}/?{query}")


def _column(name: str, raw: str, *arguments: int) -> dict[str, Any]:
    signature = {"rawType": raw, "arguments": [{"kind": "LONG", "value": a} for a in arguments]}
    shown = f"{raw}({', '.join(map(str, arguments))})" if arguments else raw
    if raw == "timestamp with time zone":
        shown = f"timestamp({arguments[0]}) with time zone"
    return {"name": name, "type": shown, "typeSignature": signature}


def test_a_result_through_the_airflow_hook_over_https(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _connect(monkeypatch, fake_trino)
    # requests would use this bundle instead of the connection's CA file (psf/requests#3829): the engine does not
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    fake_trino.answers.append(
        {
            "columns": [
                _column("n", "bigint"),
                _column("amount", "decimal", 12, 2),
                _column("at", "timestamp with time zone", 6),
                _column("name", "varchar", 2147483647),
            ],
            "data": [[1, "12.50", "2024-01-01 10:00:00.000001 Europe/Paris", "é"], [None, None, None, None]],
        }
    )
    engine = create_engine("trino", _project(tmp_path), None)
    assert isinstance(engine, TrinoEngine)
    table = engine.query("SELECT * FROM iceberg.demo.sales", ["demo.sales"])
    engine.close()
    assert table.schema == pa.schema(
        [
            ("n", pa.int64()),
            ("amount", pa.decimal128(12, 2)),
            ("at", pa.timestamp("us", tz="UTC")),
            ("name", pa.string()),
        ]
    )
    assert table.to_pylist()[0] == {
        "n": 1,
        "amount": decimal.Decimal("12.50"),
        "at": dt.datetime(2024, 1, 1, 9, 0, 0, 1, tzinfo=dt.UTC),
        "name": "é",
    }
    request = fake_trino.received[0]
    # The session catalog is the profile's, not the connection's `catalog` extra; spec SQL's `iceberg.` prefix
    # names the lakehouse, whatever the Trino catalog is called.
    assert request["x-trino-catalog"] == "lakehouse" and request["x-trino-user"] == USER
    assert '"lakehouse".demo.sales' in request["sql"].lower() and "iceberg." not in request["sql"].lower()


def test_query_error_carries_trinos_message_line_and_column(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _connect(monkeypatch, fake_trino)
    fake_trino.answers.append(
        {
            "stats": {"state": "FAILED"},
            "error": {
                "message": "Column 'nope' cannot be resolved",
                "errorCode": 47,
                "errorName": "COLUMN_NOT_FOUND",
                "errorType": "USER_ERROR",
                "errorLocation": {"lineNumber": 2, "columnNumber": 8},
            },
        }
    )
    engine = TrinoEngine(_project(tmp_path, catalog="iceberg"), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT id,\n       nope FROM demo.sales", ["demo.sales"])
    message = str(raised.value)
    assert "line 2:8: Column 'nope' cannot be resolved" in message and "COLUMN_NOT_FOUND" in message
    assert "SELECT id,\n       nope FROM demo.sales" in message  # the SQL as run


def test_missing_table_is_named(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _connect(monkeypatch, fake_trino)
    fake_trino.answers.append(
        {
            "stats": {"state": "FAILED"},
            "error": {
                "message": "line 1:15: Table 'iceberg.demo.sales' does not exist",
                "errorName": "TABLE_NOT_FOUND",
                "errorType": "USER_ERROR",
            },
        }
    )
    engine = TrinoEngine(_project(tmp_path, catalog="iceberg"), None)
    with pytest.raises(
        AkkoError, match="table demo.sales does not exist yet: run the pipeline that writes it"
    ):
        engine.query("SELECT * FROM demo.sales", ["demo.sales"])


def test_missing_namespace_is_a_missing_table(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _connect(monkeypatch, fake_trino)
    fake_trino.answers.append(
        {
            "stats": {"state": "FAILED"},
            "error": {
                "message": "line 1:15: Schema 'marts' does not exist",
                "errorName": "SCHEMA_NOT_FOUND",
                "errorType": "USER_ERROR",
            },
        }
    )
    engine = TrinoEngine(_project(tmp_path, catalog="iceberg"), None)
    with pytest.raises(AkkoError, match="table marts.revenue does not exist yet"):
        engine.query(
            "SELECT * FROM demo.sales JOIN marts.revenue USING (id)", ["demo.sales", "marts.revenue"]
        )


def test_a_malformed_connection_never_shows_its_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FAKE_TRINO", f"trino://{USER}:{PASSWORD}@127.0.0.1:notaport/")
    engine = TrinoEngine(_project(tmp_path), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert "Airflow connection 'fake_trino'" in message and "profile 'prod'" in message
    assert PASSWORD not in message


def test_wrong_password_is_an_authentication_error_without_the_secret(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong = "not-the-Pa55word"
    _connect(monkeypatch, fake_trino, password=wrong)
    engine = TrinoEngine(_project(tmp_path), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert message.startswith("Trino authentication failed")
    assert f"user '{USER}'" in message and "HTTP 401" in message
    assert f"{fake_trino.url} (profile 'prod', Airflow connection 'fake_trino')" in message
    assert wrong not in message and PASSWORD not in message


def test_an_untrusted_certificate_is_a_tls_error(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _connect(
        monkeypatch, fake_trino, verify="true"
    )  # the system's CAs, which do not know the fake's certificate
    engine = TrinoEngine(_project(tmp_path), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert message.startswith(f"TLS with Trino failed at {fake_trino.url} (profile 'prod'")
    assert "certificate verify failed" in message and PASSWORD not in message


def test_waits_for_a_trino_that_is_still_starting(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(trino_engine, "STARTING_POLL", 0.01)
    _connect(monkeypatch, fake_trino)
    starting = {
        "stats": {"state": "FAILED"},
        "error": {
            "message": "Trino server is still initializing",
            "errorName": "SERVER_STARTING_UP",
            "errorType": "INTERNAL_ERROR",
        },
    }
    fake_trino.answers += [starting, starting, {"columns": [_column("one", "integer")], "data": [[1]]}]
    engine = TrinoEngine(_project(tmp_path), None)
    assert engine.query("SELECT 1 AS one", []).to_pylist() == [{"one": 1}]
    assert len(fake_trino.received) == 3


def test_gives_up_on_a_trino_that_keeps_starting(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(trino_engine, "STARTING_POLL", 0.01)
    monkeypatch.setattr(trino_engine, "STARTING_WAIT", 0.05)
    _connect(monkeypatch, fake_trino)
    starting = {
        "stats": {"state": "FAILED"},
        "error": {
            "message": "Trino server is still initializing",
            "errorName": "SERVER_STARTING_UP",
            "errorType": "INTERNAL_ERROR",
        },
    }
    fake_trino.answers += [starting] * 200
    engine = TrinoEngine(_project(tmp_path), None)
    with pytest.raises(AkkoError, match="still initializing"):
        engine.query("SELECT 1", [])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_trino_names_endpoint_profile_and_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = _free_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_FAKE_TRINO",
        f"trino://{USER}:{PASSWORD}@127.0.0.1:{port}/?catalog=iceberg&protocol=https",
    )
    engine = TrinoEngine(_project(tmp_path), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert message.startswith(
        f"Trino is unreachable at https://127.0.0.1:{port} (profile 'prod', Airflow connection 'fake_trino'): "
        "Connection refused"
    )
    assert PASSWORD not in message


def test_a_password_over_plain_http_is_refused_before_sending_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FAKE_TRINO", f"trino://{USER}:{PASSWORD}@127.0.0.1:{_free_port()}/")
    engine = TrinoEngine(_project(tmp_path), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert "cannot connect to Trino at http://127.0.0.1:" in message and "TLS" in message
    assert PASSWORD not in message


def test_undefined_connection_says_how_to_define_it(tmp_path: Path) -> None:
    engine = TrinoEngine(_project(tmp_path, conn_id="nowhere_to_be_found"), None)
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    assert "Airflow connection 'nowhere_to_be_found' for Trino is not defined (profile 'prod')" in str(
        raised.value
    )
    assert "AIRFLOW_CONN_NOWHERE_TO_BE_FOUND" in str(raised.value)


def test_query_runs_the_pinned_sql(
    fake_trino: FakeTrino, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pinned after the lakehouse catalog is renamed; without `versions`, the SQL is sent unchanged."""
    _connect(monkeypatch, fake_trino)
    fake_trino.answers.extend({"columns": [_column("n", "bigint")], "data": [[3]]} for _ in range(2))
    engine = TrinoEngine(_project(tmp_path), None)
    sql = "SELECT count(*) AS n FROM iceberg.demo.sales s JOIN demo.regions r ON r.region = s.region"
    tables = ["demo.regions", "demo.sales"]
    assert engine.query(sql, tables, versions={"demo.sales": 8_000_000_000_000_000_001}).to_pylist() == [
        {"n": 3}
    ]
    assert engine.query(sql, tables).to_pylist() == [{"n": 3}]
    engine.close()
    pinned, unpinned = (request["sql"] for request in fake_trino.received)
    assert _versions_read(pinned) == [
        ("demo.regions", None, "r"),
        ("lakehouse.demo.sales", "8000000000000000001", "s"),
    ]
    assert unpinned == engine._lakehouse_catalog(sql) and "VERSION" not in unpinned


def test_pins_are_checked_before_anything_is_sent(tmp_path: Path) -> None:
    engine = TrinoEngine(_project(tmp_path, conn_id="nowhere_to_be_found"), None)
    with pytest.raises(
        AkkoError, match="cannot pin table demo.other to snapshot 1: the query reads demo.sales"
    ):
        engine.query("SELECT * FROM demo.sales", ["demo.sales"], versions={"demo.other": 1})
    with pytest.raises(AkkoError, match="must be an integer"):
        text = {"demo.sales": "1; DROP TABLE demo.sales"}
        engine.query("SELECT * FROM demo.sales", ["demo.sales"], versions=text)  # type: ignore[arg-type]


def test_a_final_semicolon_is_not_sent_to_trino() -> None:
    """Trino's client refuses `SELECT 1;`: the final `;` token goes, one inside a string or a comment stays."""
    from akko_orchestrator.engines.trino_engine import _without_final_semicolon

    assert _without_final_semicolon("SELECT 1;") == "SELECT 1"
    assert _without_final_semicolon("SELECT ';' ;\n-- done") == "SELECT ';'"
    assert _without_final_semicolon("SELECT 1 -- ;") == "SELECT 1 -- ;"
    assert _without_final_semicolon("SELECT ';'") == "SELECT ';'"
