"""The embedded engine gives Trino's answers where DuckDB alone would not (engines/duckdb/semantics.py).

Each expected value is what Trino 476 answers (checked against `akko stack`'s Trino; the same comparisons run for real
in tests/integration/test_sql_parity.py)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.engines.duckdb.engine import DuckDBEngine, to_duckdb_sql
from akko_orchestrator.engines.duckdb.rewrites import java_replacement_to_re2
from akko_orchestrator.engines.duckdb.sandbox import connect
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output


@pytest.fixture(scope="module")
def duck() -> Any:
    con = connect()
    yield con
    con.close()


def answer(duck: Any, expression: str) -> tuple[Any, pa.DataType]:
    """The value and Arrow type DuckDB gives for one Trino expression (`x FROM ... --` to add a FROM)."""
    table = duck.sql(to_duckdb_sql(f"SELECT {expression} AS v")).to_arrow_table()
    return table.column(0)[0].as_py(), table.schema.field(0).type


@pytest.mark.parametrize(
    ("expression", "value", "arrow"),
    [
        # integer division truncates toward zero, keeps the integer type; doubles divide by zero to IEEE values
        ("5 / 2", 2, pa.int32()),
        ("-5 / 2", -2, pa.int32()),
        ("CAST(10 AS bigint) / 3", 3, pa.int64()),
        ("x / y FROM (VALUES (7, 2)) AS t(x, y) --", 3, pa.int32()),
        ("CAST(1 AS double) / 0", math.inf, pa.float64()),
        ("REAL '1' / REAL '4'", 0.25, pa.float32()),
        # decimal division: exact, half up, Trino's result type
        ("DECIMAL '7.5' / 2", Decimal("3.8"), pa.decimal128(2, 1)),
        ("DECIMAL '-7.5' / 2", Decimal("-3.8"), pa.decimal128(2, 1)),
        ("1 / 3.0", Decimal("0.3"), pa.decimal128(12, 1)),
        ("DECIMAL '0.05' / DECIMAL '3'", Decimal("0.02"), pa.decimal128(2, 2)),
        (
            "x / 2 FROM (VALUES (DECIMAL '0.05'), (NULL)) AS t(x) WHERE x IS NOT NULL --",
            Decimal("0.03"),
            pa.decimal128(2, 2),
        ),
        # decimal averages: Trino keeps the decimal type, rounded half up
        (
            "avg(x) FROM (VALUES DECIMAL '1.00', DECIMAL '2.00', DECIMAL '2.00') AS t(x) --",
            Decimal("1.67"),
            pa.decimal128(3, 2),
        ),
        (
            "avg(x) FROM (VALUES DECIMAL '0.005', DECIMAL '0.000') AS t(x) --",
            Decimal("0.003"),
            pa.decimal128(3, 3),
        ),
        (
            "avg(x) FROM (VALUES DECIMAL '-0.005', DECIMAL '0.000') AS t(x) --",
            Decimal("-0.003"),
            pa.decimal128(3, 3),
        ),
        (
            "avg(DISTINCT x) FROM (VALUES DECIMAL '1.00', DECIMAL '1.00', DECIMAL '2.01') AS t(x) --",
            Decimal("1.51"),
            pa.decimal128(3, 2),
        ),
        (
            "avg(x * x) FROM (VALUES CAST(1.5 AS decimal(12, 2))) AS t(x) --",
            Decimal("2.2500"),
            pa.decimal128(24, 4),
        ),
        ("avg(x) FROM (VALUES 1, 2) AS t(x) --", 1.5, pa.float64()),
        # decimal types of arithmetic, round, sign, literals
        (
            "x * x FROM (VALUES CAST(1.5 AS decimal(12, 2))) AS t(x) --",
            Decimal("2.2500"),
            pa.decimal128(24, 4),
        ),
        ("round(1.005, 2)", Decimal("1.010"), pa.decimal128(5, 3)),
        ("sign(-2.5)", Decimal("-1"), pa.decimal128(1, 0)),
        ("sign(DOUBLE '-2.5')", -1.0, pa.float64()),
        ("mod(7.5, 2)", Decimal("1.5"), pa.decimal128(2, 1)),
        ("DECIMAL '001.50'", Decimal("1.50"), pa.decimal128(3, 2)),
        ("CAST('12.5' AS decimal)", Decimal("13"), pa.decimal128(38, 0)),
        # casts
        ("CAST(DOUBLE '2.5' AS integer)", 3, pa.int32()),
        ("CAST(DOUBLE '-2.5' AS bigint)", -3, pa.int64()),
        ("CAST(DOUBLE '1.005' AS decimal(5, 2))", Decimal("1.01"), pa.decimal128(5, 2)),
        ("CAST('abc' AS varchar(2))", "ab", pa.string()),
        (
            "CAST(CAST(TIMESTAMP '2024-01-01 10:00:00' AS timestamp(6)) AS varchar)",
            "2024-01-01 10:00:00.000000",
            pa.string(),
        ),
        # dates
        ("date_diff('day', TIMESTAMP '2024-01-01 23:00:00', TIMESTAMP '2024-01-02 01:00:00')", 0, pa.int64()),
        ("date_diff('month', DATE '2024-01-15', DATE '2024-03-14')", 1, pa.int64()),
        ("date_add('month', 1, DATE '2024-01-31')", dt.date(2024, 2, 29), pa.date32()),
        ("DATE '2024-03-01' - INTERVAL '1' DAY", dt.date(2024, 2, 29), pa.date32()),
        ("date_trunc('quarter', DATE '2024-05-17')", dt.date(2024, 4, 1), pa.date32()),
        ("extract(dow FROM DATE '2024-03-03')", 7, pa.int64()),
        ("extract(year_of_week FROM DATE '2024-12-30')", 2025, pa.int64()),
        # strings, regexps, JSON
        ("count_if(x > 5) FROM (VALUES 1, 2) AS t(x) --", 0, pa.int64()),
        ("regexp_extract('abc', '[0-9]+')", None, pa.string()),
        (r"regexp_replace('a1b2', '(\d)', '<$1>')", "a<1>b<2>", pa.string()),
        (r"regexp_replace('a1b2', '\d', '\$')", "a$b$", pa.string()),
        ("""json_extract_scalar('{"a": {"b": 1}}', '$.a')""", None, pa.string()),
        ("""json_extract_scalar('{"a": "x"}', '$.a')""", "x", pa.string()),
        ("split_part('a,b,c', ',', 5)", None, pa.string()),
        ("split_part('a,,c', ',', 2)", "", pa.string()),
        ("upper('straße')", "STRAßE", pa.string()),
        ("format('%s-%03d', 'a', 7)", "a-007", pa.string()),
        # arrays and bits
        ("array_max(ARRAY[1, 5, NULL])", None, pa.int32()),
        ("slice(ARRAY[1, 2, 3, 4], 2, 2)", [2, 3], pa.list_(pa.int32())),
        ("slice(ARRAY[1, 2, 3, 4], -3, 2)", [2, 3], pa.list_(pa.int32())),
        ("array_position(ARRAY[5, 6], 7)", 0, pa.int64()),
        ("bitwise_and(12, 10)", 8, pa.int64()),
        ("sha1(to_utf8('a'))", bytes.fromhex("86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"), pa.binary()),
    ],
)
def test_trinos_answer(duck: Any, expression: str, value: Any, arrow: pa.DataType) -> None:
    got, got_type = answer(duck, expression)
    assert got_type == arrow or (pa.types.is_list(arrow) and got_type.value_type == arrow.value_type)
    if isinstance(value, Decimal):
        assert isinstance(got, Decimal) and got == value and str(got) == str(value)
    else:
        assert got == value and type(got) is type(value)


def test_nan_from_zero_by_zero(duck: Any) -> None:
    assert math.isnan(answer(duck, "CAST(0 AS double) / 0")[0])


@pytest.mark.parametrize(
    "expression", ["1 / 0", "DECIMAL '1.5' / 0", "x % y FROM (VALUES (7, 0)) AS t(x, y) --"]
)
def test_division_by_zero_fails_like_trino(duck: Any, expression: str) -> None:
    with pytest.raises(Exception, match="Division by zero"):
        answer(duck, expression)


def test_grouping_is_an_integer(duck: Any) -> None:
    sql = "SELECT x, grouping(x) AS g FROM (VALUES 1, 2) AS t(x) GROUP BY ROLLUP (x) ORDER BY x NULLS LAST"
    table = duck.sql(to_duckdb_sql(sql)).to_arrow_table()
    assert table.schema.field("g").type == pa.int32() and table.column("g").to_pylist() == [0, 0, 1]


def test_decimal_average_in_a_window_and_a_filter(duck: Any) -> None:
    sql = """SELECT k, avg(x) OVER (PARTITION BY k) AS w, avg(x) FILTER (WHERE x > 0) OVER () AS f
             FROM (VALUES ('a', DECIMAL '0.05'), ('a', DECIMAL '0.00'), ('b', DECIMAL '-0.01')) AS t(k, x) ORDER BY k"""
    rows = duck.sql(to_duckdb_sql(sql)).fetchall()
    assert rows == [
        ("a", Decimal("0.03"), Decimal("0.05")),
        ("a", Decimal("0.03"), Decimal("0.05")),
        ("b", Decimal("-0.01"), Decimal("0.05")),
    ]


@pytest.mark.parametrize(
    ("java", "re2"),
    [("$1-$2", r"\1-\2"), (r"\$", "$"), (r"a\\b", r"a\\b"), ("50%", "50%"), (r"x\y", "xy"), ("\\", "\\\\")],
)
def test_java_replacement_to_re2(java: str, re2: str) -> None:
    assert java_replacement_to_re2(java) == re2


def test_column_types_come_from_the_iceberg_schemas(tmp_path: Path) -> None:
    catalog = SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=(tmp_path / "wh").as_uri())
    data = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "amount": pa.array([Decimal("0.05"), Decimal("0.00"), Decimal("1.25")], pa.decimal128(12, 2)),
            "qty": pa.array([5, -5, 3], pa.int32()),
            "day": pa.array([dt.date(2024, 1, 31)] * 3, pa.date32()),
        }
    )
    write_table(catalog, Output(table="demo.ledger"), data)
    engine = DuckDBEngine(catalog)
    sql = """SELECT avg(amount) AS avg_amount, sum(amount) / 3 AS third, min(qty / 2) AS half,
                    max(date_add('month', 1, day)) AS next_month
             FROM iceberg.demo.ledger"""
    result = engine.query(sql, ["demo.ledger"])
    assert result.to_pylist() == [
        {
            "avg_amount": Decimal("0.43"),
            "third": Decimal("0.43"),
            "half": -2,
            "next_month": dt.date(2024, 2, 29),
        }
    ]
    assert result.schema.field("avg_amount").type == pa.decimal128(12, 2)
    with pytest.raises(AkkoError, match="Division by zero"):
        engine.query("SELECT qty / (qty - qty) FROM demo.ledger", ["demo.ledger"])
