"""Only Trino SQL reaches the embedded engine (plan/trino_sql.py): functions Trino lacks, DuckDB-only syntax and
symbols are refused on `local` at their offset with the Trino way; Trino SQL of every shape passes. The same refusal
holds at `akko validate` (file:line:column), at DAG parse time and at run time in the DuckDB engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from akko_orchestrator.errors import AkkoError, SpecError
from akko_orchestrator.plan.sql_support import embedded_unsupported
from akko_orchestrator.plan.trino_functions import format_functions, trino_functions
from akko_orchestrator.plan.trino_sql import SPECIAL_FORMS
from akko_orchestrator.spec.validate import validate_path
from tests.integration.test_sql_parity import Q

NOT_TRINO = "the embedded engine runs only Trino SQL"


def refused(sql: str) -> list[tuple[str, int]]:
    return [(issue.construct, issue.offset) for issue in embedded_unsupported(sql)]


# (SQL, what is refused, where: the text the issue points at)
REFUSED = [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv", "read_csv("),
    ("SELECT * FROM read_parquet('/data/*.parquet')", "read_parquet", "read_parquet("),
    ("SELECT * FROM read_json_auto('/etc/x.json')", "read_json_auto", "read_json_auto("),
    ("SELECT * FROM read_text('/etc/hostname')", "read_text", "read_text("),
    ("SELECT * FROM iceberg_scan('/warehouse/t/metadata/v1.json')", "iceberg_scan", "iceberg_scan("),
    ("SELECT getenv('HOME')", "getenv", "getenv("),
    ("SELECT current_setting('threads')", "current_setting", "current_setting("),
    ("SELECT list_value(1, 2)", "list_value", "list_value("),
    ("SELECT strftime(sale_date, '%Y') FROM demo.sales", "strftime", "strftime("),
    ("SELECT my_udf(id) FROM demo.sales", "my_udf", "my_udf("),
    ("SELECT * FROM query('SELECT 1')", "query", "query("),
    ("SELECT * FROM TABLE(sequence(1, 3))", "TABLE(...)", "TABLE("),
    ("SELECT sale_id::varchar FROM demo.sales", "::", "::"),
    ("SELECT {'a': 1} AS s", "{", "{"),
    ("SELECT quantity & 1 FROM demo.sales", "&", "&"),
    ("SELECT $1", "$1", "$1"),
    ("SELECT ?", "?", "?"),
    ("SELECT * FROM '/etc/passwd'", "a string in FROM", "'/etc/passwd'"),
    ("FROM demo.sales SELECT region", "FROM-first", "FROM demo"),
    ("SELECT * EXCLUDE (region) FROM demo.sales", "SELECT * EXCLUDE", "*"),
    ("SELECT * REPLACE (1 AS region) FROM demo.sales", "SELECT * REPLACE", "*"),
    ("SELECT DISTINCT ON (region) region FROM demo.sales", "DISTINCT ON", "region)"),
    ("SELECT region, count(*) FROM demo.sales GROUP BY ALL", "GROUP BY ALL", "GROUP BY ALL"),
    ("SELECT * FROM demo.sales NATURAL JOIN demo.regions", "NATURAL JOIN", "NATURAL"),
    ("SELECT * FROM demo.sales s ASOF JOIN demo.rates r ON s.sale_date >= r.day", "ASOF JOIN", "ASOF"),
    ("SELECT region FROM demo.sales WHERE region ILIKE 'e%'", "ILIKE", "region ILIKE"),
    ("SELECT region FROM demo.sales WHERE region GLOB 'E*'", "GLOB", "region GLOB"),
    ("SELECT region INTO copy FROM demo.sales", "SELECT INTO", "copy"),
    ("SELECT region FROM demo.sales ORDER BY region LIMIT 10 OFFSET 1", "LIMIT ... OFFSET", "OFFSET"),
]


@pytest.mark.parametrize(("sql", "construct", "at"), REFUSED, ids=[r[1] for r in REFUSED])
def test_what_trino_does_not_have_is_refused_where_it_is(sql: str, construct: str, at: str) -> None:
    issues = embedded_unsupported(sql)
    assert (construct, sql.index(at)) in [(i.construct, i.offset) for i in issues], issues
    message = next(i.message for i in issues if i.construct == construct)
    assert message.startswith(f"{construct}: ")
    assert NOT_TRINO in message or "table functions" in message


@pytest.mark.parametrize(
    ("sql", "reason", "at"),
    [
        ("SELECT * FROM glob('/etc/*')", "glob is not a Trino function", "glob"),
        ("ATTACH '/tmp/x.db' AS x", "ATTACH is not a Trino statement (it is DuckDB's)", "ATTACH"),
        ("INSTALL httpfs", "INSTALL is not a query", "INSTALL"),
        ("PRAGMA enable_profiling", "PRAGMA is not a query", "PRAGMA"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY is not a query", "COPY"),
    ],
)
def test_duckdb_statements_and_unparsable_calls_are_named(sql: str, reason: str, at: str) -> None:
    """What sqlglot cannot even parse as Trino is still named, at its place (the planner reports it)."""
    from akko_orchestrator.plan.sql_refs import SqlSyntaxError
    from akko_orchestrator.plan.statements import query_issues

    try:
        found = [(i.message, i.offset) for i in query_issues(sql)]
    except SqlSyntaxError as exc:
        found = [(exc.reason, exc.column - 1)]
    assert any(message.startswith(reason) and offset == sql.index(at) for message, offset in found), found


@pytest.mark.parametrize(
    ("sql", "way"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "load files with an `ingest` step"),
        ("SELECT sale_id::varchar FROM demo.sales", "use CAST(x AS type)"),
        ("SELECT region, count(*) FROM demo.sales GROUP BY ALL", "name the grouping columns"),
        ("SELECT strftime(sale_date, '%Y') FROM demo.sales", "use date_format"),
    ],
)
def test_a_refusal_says_the_trino_way(sql: str, way: str) -> None:
    assert any(way in issue.message for issue in embedded_unsupported(sql))


TRINO = [
    "SELECT region, count(*) AS n, sum(revenue) FILTER (WHERE quantity > 1) FROM iceberg.demo.sales GROUP BY region",
    "SELECT CASE WHEN (quantity > 1) THEN 'many' ELSE 'one' END, if((quantity > 1), 1, 0) FROM demo.sales",
    "SELECT CAST(sale_id AS varchar), try_cast(product AS bigint), DATE '2024-01-01', TIMESTAMP '2024-01-01 00:00:00',"
    " INTERVAL '1' DAY, DECIMAL '1.50', X'ff' FROM demo.sales",
    "SELECT ARRAY[1, 2][1], transform(ARRAY[1, 2], x -> x + 1), CAST(ROW(1, 'a') AS ROW(n bigint, s varchar))",
    "SELECT extract(year FROM sale_date), position('a' IN product), trim(BOTH 'x' FROM product), substring(product"
    " FROM 1 FOR 2), CURRENT_DATE, current_timestamp, localtimestamp FROM demo.sales",
    "SELECT max_by(product, revenue), ceiling(avg(quantity)), listagg(product, ',') WITHIN GROUP (ORDER BY product)"
    " FROM demo.sales",
    "SELECT bitwise_and(quantity, 1), coalesce(product, 'x'), nullif(region, ''), product || '!' FROM demo.sales",
    "WITH t AS (SELECT region, row_number() OVER (PARTITION BY region ORDER BY revenue DESC) AS rn FROM demo.sales)"
    " SELECT * FROM t WHERE rn = 1 ORDER BY region NULLS LAST OFFSET 1 LIMIT 10",
    "SELECT s.region FROM demo.sales s LEFT JOIN demo.regions r ON r.region = s.region WHERE r.region IS NULL"
    " AND (s.quantity > 1 OR s.product IS DISTINCT FROM 'x') AND s.product LIKE 'P!%%' ESCAPE '!'",
    "SELECT * FROM demo.sales CROSS JOIN UNNEST(ARRAY[1, 2]) WITH ORDINALITY AS u(x, i)",
    "SELECT region FROM demo.sales UNION ALL SELECT region FROM demo.regions EXCEPT SELECT 'x'",
    "SELECT region, grouping(region) FROM demo.sales GROUP BY GROUPING SETS ((region), ())",
    "SELECT a, b FROM (VALUES (1, 'x'), (2, 'y')) AS t(a, b) WHERE EXISTS (SELECT 1 FROM demo.sales)",
    "SELECT region FROM demo.sales GROUP BY region HAVING count(*) > 1 FETCH FIRST 5 ROWS ONLY",
    "TABLE demo.sales",
    "SELECT [1, 2] AS xs, cardinality([3]) AS n",  # Trino 476 takes bracket array literals too
    "SELECT a <> b, a != b, a >= b, -a, a % 2 FROM (VALUES (1, 2)) AS t(a, b)",
]


@pytest.mark.parametrize("sql", TRINO)
def test_trino_sql_of_every_shape_passes(sql: str) -> None:
    assert refused(sql) == []


@pytest.mark.parametrize("name", sorted(Q))
def test_the_parity_queries_are_judged_only_on_what_duckdb_answers(name: str) -> None:
    """The SQL parity suite's queries all run on a real Trino: none is refused as not being Trino SQL."""
    assert [i.message for i in embedded_unsupported(Q[name][0]) if NOT_TRINO in i.message] == []


def test_the_function_list_is_trinos_and_special_forms_are_not_in_it() -> None:
    functions = trino_functions()
    assert len(functions) > 350
    assert {"date_trunc", "approx_distinct", "row_number", "max_by"} <= set(functions)
    assert functions["row_number"] == frozenset({"window"})
    assert functions["sum"] == frozenset({"aggregate"})
    assert "read_csv" not in functions and "getenv" not in functions
    assert not SPECIAL_FORMS & {"read_csv", "glob"}
    assert format_functions(
        [("Upper", "scalar"), ("sequence", "table"), ("sequence", "scalar")]
    ).splitlines()[1:] == ["sequence\tscalar,table", "upper\tscalar"]


def _project(root: Path, sql: str) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / "akko.yaml").write_text(
        "lakehouse: akko\nprofile: local\nprofiles:\n  local: {engine: embedded}\n"
    )
    spec = root / "pipelines" / "exfil.yaml"
    spec.write_text(
        "pipeline: exfil\nowner: x\nteam: demo\nsteps:\n  - id: grab\n    kind: sql\n"
        f"    sql: {sql}\n    output: {{table: demo.zz_exfil}}\n"
    )
    return spec


def test_validate_refuses_a_duckdb_function_at_file_line_column(tmp_path: Path) -> None:
    _project(tmp_path, "SELECT * FROM read_csv('/etc/passwd')")
    report = validate_path(tmp_path / "pipelines", tmp_path, profile="local", engine="embedded")
    assert [i.format().split(": read_csv")[0] for i in report.issues] == [
        "pipelines/exfil.yaml:7:24: steps[0].sql"
    ]
    assert "read_csv: not a Trino function" in report.issues[0].reason


def test_the_dag_of_such_a_spec_does_not_compile(tmp_path: Path) -> None:
    from akko_orchestrator.compiler.entry import compile_plan

    spec = _project(tmp_path, "SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(SpecError, match=r"exfil.yaml:7:24: steps\[0\].sql: read_csv: not a Trino function"):
        compile_plan(spec, tmp_path, cache_file=tmp_path / "cache.json", profile="local")


def test_a_cached_clean_plan_is_judged_again_by_newer_rules(tmp_path: Path) -> None:
    """A shim's cache from older rules (here: rules fingerprint changed) must not keep a spec valid."""
    import json

    from akko_orchestrator.compiler.entry import compile_plan

    spec = _project(tmp_path, "SELECT 1 AS x")
    cache = tmp_path / "cache.json"
    compile_plan(spec, tmp_path, cache_file=cache, profile="local")
    stored = json.loads(cache.read_text())
    spec.write_text(spec.read_text().replace("SELECT 1 AS x", "SELECT * FROM read_csv('/etc/passwd')"))
    stored["rules"] = "older"
    cache.write_text(json.dumps(stored))
    with pytest.raises(SpecError, match="read_csv"):
        compile_plan(spec, tmp_path, cache_file=cache, profile="local")


def test_the_engine_refuses_it_again_at_run_time(tmp_path: Path) -> None:
    """A spec edited after validation, or SQL from anywhere else: the DuckDB engine itself refuses it."""
    from pyiceberg.catalog.sql import SqlCatalog

    from akko_orchestrator.engines.duckdb.engine import DuckDBEngine

    catalog = SqlCatalog(
        "t", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=(tmp_path / "warehouse").as_uri()
    )
    engine = DuckDBEngine(catalog)
    try:
        for sql in (
            "SELECT * FROM read_csv('/etc/passwd')",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "INSTALL httpfs",
        ):
            with pytest.raises(AkkoError, match="not a Trino function|is not a query"):
                engine.query(sql, [])
    finally:
        engine.close()
    assert not Path("/tmp/x.csv").exists() or Path("/tmp/x.csv").stat().st_mtime < tmp_path.stat().st_mtime


DONE_WHEN = {
    "read_csv": ("SELECT * FROM read_csv('/etc/passwd')", "read_csv: not a Trino function"),
    "read_parquet": ("SELECT * FROM read_parquet('/tmp/*.parquet')", "read_parquet: not a Trino function"),
    "glob": ("SELECT * FROM glob('/etc/*')", "SQL does not parse as Trino: glob is not a Trino function"),
    "copy": ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY is not a query"),
    "attach": ("ATTACH '/tmp/x.db' AS x", "SQL does not parse as Trino: ATTACH is not a Trino statement"),
    "install": ("INSTALL httpfs", "INSTALL is not a query"),
    "pragma": ("PRAGMA enable_profiling", "PRAGMA is not a query"),
}


def test_akko_validate_refuses_each_at_file_line_column(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from akko_orchestrator.cli.main import app

    _project(tmp_path, "SELECT 1 AS x")
    steps = "".join(
        f'  - id: {name}\n    kind: sql\n    sql: "{sql}"\n    output: {{table: demo.{name}}}\n'
        for name, (sql, _) in DONE_WHEN.items()
    )
    (tmp_path / "pipelines" / "exfil.yaml").write_text(
        f"pipeline: exfil\nowner: x\nteam: demo\nsteps:\n{steps}"
    )
    result = CliRunner().invoke(app, ["--project", str(tmp_path), "validate"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    lines = result.output.splitlines()
    for index, (name, (sql, reason)) in enumerate(DONE_WHEN.items()):
        at = {"read_csv": "read_", "read_parquet": "read_", "glob": "glob"}.get(name)
        line, column = 7 + 4 * index, 11 + (sql.index(at) if at else 0)  # 11: after `sql: "`
        expected = f"error pipelines/exfil.yaml:{line}:{column}: steps[{index}].sql: {reason}"
        assert any(text.startswith(expected) for text in lines), (expected, lines)
