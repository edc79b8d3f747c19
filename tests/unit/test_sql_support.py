"""What the embedded engine (DuckDB) cannot run as Trino would: `plan/sql_support.embedded_unsupported`.

The real engines' answers are compared in tests/integration/test_sql_parity.py; here, the detection itself: which
functions and constructs are refused, with which message, at which offset, and that ordinary SQL is not."""

from __future__ import annotations

import pytest

from akko_orchestrator.plan.sql_support import SqlSupportIssue, embedded_unsupported

SCHEMA = {
    "sales.orders": {
        "id": "bigint",
        "amount": "decimal(12, 2)",
        "discount": "double",
        "ratio": "real",
        "ordered_at": "timestamp(6)",
        "shipped_at": "timestamp(6) with time zone",
        "order_date": "date",
        "note": "varchar",
    }
}


def constructs(sql: str, schema=None) -> list[str]:
    return [issue.construct for issue in embedded_unsupported(sql, schema)]


def only(sql: str, schema=None) -> SqlSupportIssue:
    issues = embedded_unsupported(sql, schema)
    assert len(issues) == 1, issues
    return issues[0]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT region, sum(amount) AS total, count(*) FROM sales.orders GROUP BY region ORDER BY 2 DESC NULLS LAST",
        "WITH t AS (SELECT id, row_number() OVER (PARTITION BY note ORDER BY id) AS rn FROM iceberg.sales.orders) "
        "SELECT * FROM t WHERE rn = 1",
        "SELECT date_trunc('month', ordered_at), date_add('day', 1, order_date), date_diff('day', order_date, "
        "current_date), date_format(ordered_at, '%Y-%m'), date_parse('2024-01-01', '%Y-%m-%d') FROM sales.orders",
        "SELECT regexp_extract(note, '(\\d+)', 1), regexp_replace(note, '(a)', '$1$1'), json_extract_scalar(note, "
        "'$.a'), split_part(note, ',', 2), count_if(id > 1), format('%s-%05d', note, id) FROM sales.orders",
        "SELECT x FROM sales.orders CROSS JOIN UNNEST(sequence(1, 3)) AS t(x) GROUP BY GROUPING SETS ((x), ())",
        "SELECT amount / 3, avg(amount), CAST(discount AS integer), CAST(amount AS varchar), CAST(ordered_at AS "
        "varchar), transform(ARRAY[1, 2], v -> v * 2), map_concat(MAP(), MAP()) FROM sales.orders",
        "SELECT order_date + INTERVAL '1' DAY, ordered_at - INTERVAL '1' HOUR FROM sales.orders",
    ],
)
def test_what_duckdb_answers_like_trino_is_not_refused(sql: str) -> None:
    assert embedded_unsupported(sql, SCHEMA) == []


def test_message_names_the_function_the_engine_and_what_to_do() -> None:
    sql = "SELECT status,\n       approx_percentile(amount, 0.5) AS median FROM sales.orders GROUP BY status"
    issue = only(sql)
    assert issue.construct == "approx_percentile"
    assert issue.message.startswith("approx_percentile: not supported by the embedded engine (DuckDB)")
    assert "run this step on the `cluster` profile or compute it in a `python` step" in issue.message
    assert sql[issue.offset :].startswith("approx_percentile(")
    assert str(issue) == issue.message


def test_function_name_is_reported_as_written() -> None:
    sql = "SELECT APPROX_DISTINCT(id) FROM sales.orders"
    issue = only(sql)
    assert issue.construct == "APPROX_DISTINCT" and issue.offset == 7
    assert "count(DISTINCT ...)" in issue.message


@pytest.mark.parametrize(
    ("call", "construct"),
    [
        ("approx_distinct(id)", "approx_distinct"),
        ("approx_percentile(amount, 0.9)", "approx_percentile"),
        ("format_datetime(ordered_at, 'yyyy-MM-dd')", "format_datetime"),
        ("parse_datetime(note, 'yyyy-MM-dd')", "parse_datetime"),
        ("to_iso8601(order_date)", "to_iso8601"),
        ("millisecond(ordered_at)", "millisecond"),
        ("json_parse(note)", "json_parse"),
        ("typeof(id)", "typeof"),
        ("repeat(note, 3)", "repeat"),
        ("array_distinct(ARRAY[2, 1, 2])", "array_distinct"),
        ("sha512(to_utf8(note))", "sha512"),
        ("soundex(note)", "soundex"),
        ("format('%,d', id)", "format"),
        ("regexp_replace(note, 'a', note)", "regexp_replace"),
        ("width_bucket(id, 0, 10, 5)", "width_bucket"),
        ("word_stem(note)", "word_stem"),
    ],
)
def test_functions_duckdb_lacks_or_answers_differently(call: str, construct: str) -> None:
    sql = f"SELECT id, {call} AS x FROM sales.orders"
    issue = only(sql)
    assert issue.construct == construct
    assert issue.offset == sql.index(call)
    assert "not supported by the embedded engine (DuckDB)" in issue.message


@pytest.mark.parametrize(
    ("sql", "construct", "at"),
    [
        ("SELECT * FROM sales.orders TABLESAMPLE BERNOULLI (10)", "TABLESAMPLE", "TABLESAMPLE"),
        ("SELECT ordered_at AT TIME ZONE 'Europe/Paris' FROM sales.orders", "AT TIME ZONE", "ordered_at AT"),
        ("SELECT x, y FROM UNNEST(ARRAY[1], ARRAY['a']) AS t(x, y)", "UNNEST", "UNNEST("),
        ("SELECT * FROM sales.orders FOR VERSION AS OF 42", "FOR VERSION/TIMESTAMP AS OF", "FOR VERSION"),
        ('SELECT * FROM iceberg.sales."orders$snapshots"', '"orders$snapshots"', "iceberg.sales"),
        ("SELECT CAST(note AS char(10)) FROM sales.orders", "CHAR(n)", "CAST(note"),
        ("SELECT TRY_CAST(note AS json) FROM sales.orders", "CAST(... AS JSON)", "TRY_CAST"),
        ("SELECT reduce(ARRAY[1], 0, (s, x) -> s + x, s -> s * 2)", "reduce", "reduce("),
        ("SELECT strpos(note, 'a', 2) FROM sales.orders", "strpos", "strpos("),
        (
            "SELECT * FROM sales.orders MATCH_RECOGNIZE (ORDER BY id MEASURES A.id AS a PATTERN (A) DEFINE A AS id > 0)",
            "MATCH_RECOGNIZE",
            "MATCH_RECOGNIZE",
        ),
    ],
)
def test_constructs(sql: str, construct: str, at: str) -> None:
    issue = only(sql)
    assert issue.construct == construct
    assert sql[issue.offset :].startswith(at), (issue.offset, sql[issue.offset :])


def test_offset_of_a_cast_inside_a_cast_is_the_outer_cast() -> None:
    sql = "SELECT CAST(CAST(id AS varchar) AS char(3)) FROM sales.orders"
    assert only(sql).offset == sql.index("CAST(CAST")


def test_checks_that_need_column_types_run_with_a_schema() -> None:
    sql = (
        "SELECT CAST(discount AS varchar), CAST(ratio AS varchar), CAST(shipped_at AS varchar),\n"
        "       order_date - DATE '2024-01-01', sequence(order_date, DATE '2024-12-31') FROM iceberg.sales.orders"
    )
    assert constructs(sql) == []  # without types nothing is known about these columns
    found = embedded_unsupported(sql, SCHEMA)
    assert [i.construct for i in found] == [
        "CAST(double AS varchar)",
        "CAST(double AS varchar)",
        "CAST(timestamp with time zone AS varchar)",
        "DATE - DATE",
        "sequence",
    ]
    assert [sql[i.offset : i.offset + 9] for i in found[:3]] == ["CAST(disc", "CAST(rati", "CAST(ship"]
    assert "1.25E-1" in found[0].message


def test_literal_types_need_no_schema() -> None:
    assert constructs("SELECT CAST(DOUBLE '0.1' AS varchar), DATE '2024-03-01' - DATE '2024-01-01'") == [
        "CAST(double AS varchar)",
        "DATE - DATE",
    ]


def test_issues_are_sorted_by_offset_across_statements_and_unique() -> None:
    sql = "SELECT approx_distinct(id) FROM t;\nSELECT typeof(1), approx_distinct(id) FROM t"
    issues = embedded_unsupported(sql)
    assert [i.construct for i in issues] == ["approx_distinct", "typeof", "approx_distinct"]
    assert [i.offset for i in issues] == sorted(i.offset for i in issues)
    assert len({i.offset for i in issues}) == 3


def test_sql_that_does_not_parse_gives_no_issue() -> None:
    """Its syntax error is the planner's to report, at its own position."""
    assert embedded_unsupported("SELEC approx_distinct(id) FROM t") == []
    assert embedded_unsupported("") == []


def test_unknown_schema_columns_or_unqualifiable_sql_still_get_the_untyped_checks() -> None:
    sql = "SELECT approx_distinct(nope), CAST(nope AS varchar) FROM sales.elsewhere JOIN x USING (id)"
    assert constructs(sql, SCHEMA) == ["approx_distinct"]
