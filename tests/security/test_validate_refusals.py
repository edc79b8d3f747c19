"""Issue 21, class 11: what `akko validate` accepted and could never work is refused at its line, with the fix.

Each folder under fixtures/refusals/ is a small project (akko.yaml, pipelines/, the files its specs need) and its
`expected.txt` holds the exact located messages (`<project>` stands for the project's folder). `akko validate`
prints exactly those; the plan as Airflow's DAG processor builds it (compiler/entry.py, with its parse cache) raises
exactly those, spec by spec. Variants of each class follow the fixture tests, with what must still pass beside what
is refused.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.compiler.entry import compile_plan
from akko_orchestrator.errors import SpecError
from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.plan.column_checks import missing_check_columns
from akko_orchestrator.plan.sql_support import embedded_unsupported
from akko_orchestrator.plan.trino_leniencies import grammar_issues
from akko_orchestrator.spec.loader import load_spec
from akko_orchestrator.spec.models import Check, HttpSource, SqlSource, SqlStep

FIXTURES = Path(__file__).parent / "fixtures" / "refusals"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("AKKO_PROJECT_DIR", "AKKO_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / "state"))
    return CliRunner()


def project_of(case: str, tmp_path: Path) -> Path:
    """A copy of the case's project: validation and parsing write caches and graphs, never into the repo. A module
    with a syntax error on purpose is kept as `.py.txt` (linters read every `.py`), and is a `.py` in the copy."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / case, root, ignore=shutil.ignore_patterns("expected.txt", "__pycache__"))
    for kept in root.rglob("*.py.txt"):
        kept.rename(kept.with_suffix(""))
    return root


def expected(case: str) -> list[str]:
    return (FIXTURES / case / "expected.txt").read_text(encoding="utf-8").splitlines()


def shown(text: str, root: Path) -> str:
    return text.replace(str(root), "<project>")


def test_every_case_expects_at_least_one_refusal() -> None:
    assert CASES and all(expected(case) for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_akko_validate_refuses_each_at_its_line(case: str, tmp_path: Path, runner: CliRunner) -> None:
    root = project_of(case, tmp_path)
    result = runner.invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 1, result.output
    printed = [shown(line.removeprefix("error "), root) for line in result.stderr.splitlines()]
    assert sorted(printed) == sorted(expected(case))
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES)
def test_dag_parse_refuses_the_same(case: str, tmp_path: Path) -> None:
    """Each spec compiled as its shim does, twice (the second time through the parse cache): the same messages,
    and a valid spec of the case still plans."""
    root = project_of(case, tmp_path)
    found: list[str] = []
    for spec in sorted((root / "pipelines").glob("*.yaml")):
        for _ in range(2):
            try:
                compile_plan(spec, root, cache_file=tmp_path / "cache" / f"{spec.stem}.json")
            except SpecError as exc:
                messages = [shown(issue.format(), root) for issue in exc.issues]
            else:
                messages = []
        found += messages
    assert sorted(found) == sorted(expected(case))


# --- 1. secrets where a spec names a connection ----------------------------------------------------------------

SECRETS = ["s3cr3t-pw", "a1B2c3D4e5F6", "abcdefghijklmnop", "k-8c1f0e7d", "t0k3n-value"]


def test_a_refused_secret_is_never_repeated(tmp_path: Path, runner: CliRunner) -> None:
    root = project_of("secret_in_conn_id", tmp_path)
    result = runner.invoke(app, ["--project", str(root), "validate", "--json"])
    assert result.exit_code == 1
    assert not [secret for secret in SECRETS if secret in result.output]


@pytest.mark.parametrize(
    "conn_id",
    [
        "postgresql://app:pw@db/orders",
        "app@db.internal",
        "ops db",
        "xoxb-1234-5678-abcdefgh",
        "AKIAABCDEFGHIJKLMNOP",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "3f2504e04f8911d39a0c0305e82c3301",
        "k8Jd93kdLq0Zp2mX7vB4nR1t",
    ],
)
def test_a_conn_id_holding_a_secret_is_refused(conn_id: str) -> None:
    with pytest.raises(ValueError, match="conn_id") as raised:
        SqlSource(conn_id=conn_id, query="SELECT 1")
    assert conn_id not in str(raised.value).split("[type=")[0]


@pytest.mark.parametrize("conn_id", ["akko_operational", "orders-db.eu", "smtp_default", "postgres_2024"])
def test_a_conn_id_naming_a_connection_passes(conn_id: str) -> None:
    assert SqlSource(conn_id=conn_id, query="SELECT 1").conn_id == conn_id


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@api.example.com/v1",
        "https://api.example.com/v1?token=abc",
        "https://api.example.com/v1?client_secret=abc",
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://api.example.com/v1/xoxb-1234-5678/x",
    ],
)
def test_a_url_holding_a_credential_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="credentials do not belong in a spec"):
        HttpSource(url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://raw.example.com/org/repo/0157c179f00350f8679258317e706524532e5a5b/rates.json",
        "https://api.example.com/v1/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301?currency=EUR&author=x",
    ],
)
def test_a_url_with_ids_but_no_credential_passes(url: str) -> None:
    assert HttpSource(url=url).url == url


# --- 2. durations that cannot work -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "ok"), [("0s", False), ("0ms", False), ("999ms", False), ("1s", True), ("2h", True)]
)
def test_a_timeout_is_at_least_a_second(timeout: str, ok: bool) -> None:
    step = {"id": "s", "kind": "sql", "sql": "SELECT 1", "timeout": timeout}
    if ok:
        assert SqlStep.model_validate(step).timeout == timeout
    else:
        with pytest.raises(ValueError, match="leave `timeout` out for no timeout"):
            SqlStep.model_validate(step)


@pytest.mark.parametrize("age", ["0s", "0ms", "0d"])
def test_a_freshness_age_of_zero_is_refused(age: str) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        Check.model_validate({"freshness": {"column": "day", "max_age": age}})


# --- 3. python steps -------------------------------------------------------------------------------------------


def test_python_modules_are_parsed_never_imported(tmp_path: Path, runner: CliRunner) -> None:
    """explodes_on_import raises when imported; valid_functions.yaml calls it and is valid."""
    root = project_of("python_functions", tmp_path)
    result = runner.invoke(app, ["--project", str(root), "validate"])
    assert "valid pipelines/valid_functions.yaml" in result.stdout
    assert "explodes_on_import" not in sys.modules and "functions" not in sys.modules


# --- 4. SQL Trino's grammar refuses ----------------------------------------------------------------------------

# (SQL, construct refused, the text it is refused at)
LENIENT = [
    ("SELECT a, b, FROM demo.t", "trailing comma", ", FROM"),
    ("SELECT a FROM demo.t GROUP BY a, ORDER BY a", "trailing comma", ", ORDER"),
    ("SELECT a FROM demo.t ORDER BY a,", "trailing comma", ","),
    ("SELECT * FROM (VALUES (1, 2),) AS t(a, b)", "trailing comma", ",)"),
    ("SELECT coalesce(a, 0,) FROM demo.t", "trailing comma", ",)"),
    ("SELECT a FROM demo.t WHERE a IN (1, 2,)", "trailing comma", ",)"),
    ("SELECT a FROM demo.t, demo.u, WHERE a = 1", "trailing comma", ", WHERE"),
    ("SELECT a FROM demo.t LIMIT 1, 2", "LIMIT m, n", "LIMIT"),
    ("SELECT a FROM demo.t LIMIT 10%", "LIMIT n PERCENT", "LIMIT"),
    ("SELECT INTERVAL 1 DAY", "INTERVAL without quotes", "INTERVAL"),
    ("SELECT INTERVAL -1 DAY", "INTERVAL without quotes", "INTERVAL"),
    ("SELECT a FROM demo.t WHERE b IS NOT TRUE", "IS TRUE / IS FALSE", "IS"),
    ("SELECT a FROM demo.t WHERE b NOTNULL", "NOTNULL", "NOTNULL"),
    ("SELECT a AS 'x' FROM demo.t", "a string as an alias", "'x'"),
    ("SELECT a FROM demo.t ORDER BY ALL", "ORDER BY ALL", "ORDER BY"),
    ("SELECT a FROM demo.t UNION ALL BY NAME SELECT a FROM demo.u", "UNION BY NAME", "UNION"),
    ("WITH x AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM x", "AS MATERIALIZED", "MATERIALIZED"),
    ("SELECT a FROM demo.t WHERE a IN ()", "IN ()", "IN"),
    ("SELECT a FROM demo.t WHERE a IN [1, 2]", "IN [...]", "[1"),
    ("SELECT a FROM demo.t JOIN demo.u", "JOIN without ON", "JOIN"),
    ("SELECT a FROM demo.t POSITIONAL JOIN demo.u", "JOIN without ON", "JOIN"),
    ("SELECT a FROM demo.t LEFT JOIN (SELECT 1 AS b) s", "JOIN without ON", "JOIN"),
]
TRINO = [
    "SELECT a, limit, window FROM demo.t",  # non-reserved words as columns after a comma
    "SELECT isnull, notnull FROM demo.t",
    "SELECT a FROM demo.t CROSS JOIN demo.u LEFT JOIN demo.v ON true JOIN demo.w USING (a), demo.x",
    "SELECT a FROM demo.t OFFSET 1 LIMIT 2",
    "SELECT INTERVAL '1' DAY, a IS NULL, a IS NOT DISTINCT FROM b FROM demo.t",
    "SELECT count(*) FILTER (WHERE a > 1) AS n, ARRAY[1, 2] AS xs FROM demo.t",
    "WITH x AS (SELECT 1 AS a), y AS (SELECT 2 AS a) SELECT a FROM x UNION ALL SELECT a FROM y",
    "SELECT a FROM demo.t WHERE a IN (1, 2) AND b IN (SELECT b FROM demo.u) ORDER BY a, b LIMIT 5",
]


@pytest.mark.parametrize(
    ("sql", "construct", "at"), LENIENT, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(LENIENT)]
)
def test_a_duckdb_leniency_is_refused_on_every_profile(sql: str, construct: str, at: str) -> None:
    where = sql.index(at)
    for issues in (embedded_unsupported(sql), grammar_issues(sql, "cluster")):
        assert (construct, where) in [(i.construct, i.offset) for i in issues], issues
        assert "not in Trino's grammar" in next(i.message for i in issues if i.construct == construct)


@pytest.mark.parametrize("sql", TRINO)
def test_trino_sql_is_no_leniency(sql: str) -> None:
    assert grammar_issues(sql, "cluster") == []
    assert [i for i in embedded_unsupported(sql) if "grammar" in i.message] == []


def test_sql_a_real_trino_ran_is_no_leniency() -> None:
    """The SQL parity suite's queries all ran on Trino 476: none is refused as outside its grammar."""
    from tests.integration.test_sql_parity import Q

    assert {
        name: grammar_issues(Q[name][0], "cluster") for name in Q if grammar_issues(Q[name][0], "cluster")
    } == {}


def test_the_cluster_profile_refuses_what_trino_would(tmp_path: Path) -> None:
    """No allow-list of functions on `cluster` (Trino has its own), but the grammar's refusals hold there too."""
    root = project_of("trino_grammar", tmp_path)
    pipeline, source = load_spec(root / "pipelines" / "grammar.yaml", "pipelines/grammar.yaml")
    with pytest.raises(SpecError) as raised:
        build_plan(pipeline, source, engine="cluster")
    assert sorted(shown(i.format(), root) for i in raised.value.issues) == sorted(expected("trino_grammar"))
    assert build_plan(*load_spec(root / "pipelines" / "trino.yaml"), engine="cluster").steps


# --- 5. check columns ------------------------------------------------------------------------------------------


def test_a_cached_plan_never_hides_a_missing_column(tmp_path: Path) -> None:
    """The parse cache holds the columns derived from SQL; a spec edited to check a column its output lacks is
    refused on the next parse, and an upstream projection edited away from a column too."""
    root = project_of("check_columns", tmp_path)
    spec = root / "pipelines" / "edited.yaml"
    text = (
        "pipeline: edited\nowner: tests\nteam: demo\nsteps:\n"
        "  - {id: a, kind: sql, sql: 'SELECT 1 AS id, 2 AS amount', output: {table: demo.a}}\n"
        "  - {id: b, kind: sql, sql: 'SELECT * FROM demo.a', output: {table: demo.b}, checks: [{not_null: [amount]}]}\n"
    )
    spec.write_text(text)
    cache = tmp_path / "edited.json"
    assert compile_plan(spec, root, cache_file=cache).steps
    assert compile_plan(spec, root, cache_file=cache).steps  # from the cache
    spec.write_text(text.replace("2 AS amount", "2 AS total"))
    with pytest.raises(SpecError, match="demo.b will have no column 'amount' .its columns: id, total."):
        compile_plan(spec, root, cache_file=cache)


def test_the_run_time_check_names_the_check_the_column_and_the_columns() -> None:
    """Where columns cannot be known at validate, the running check says which check and column, never `_akko_t`."""
    checks = [
        Check.model_validate({"not_null": ["id"]}),
        Check.model_validate({"expression": "amout > 0", "name": "positive"}),
    ]
    error = missing_check_columns("demo.orders", checks, ["id", "amount", "day"])
    assert str(error) == (
        "check 'positive' on demo.orders: the table has no column 'amout'; did you mean 'amount'? "
        "(its columns: id, amount, day)"
    )
    assert missing_check_columns("demo.orders", checks[:1], ["ID"]) is None


# --- 9. other teams' tables in a dbt model ---------------------------------------------------------------------


def test_a_dbt_model_naming_another_teams_table_is_refused_in_its_file(tmp_path: Path) -> None:
    """`from banking.accounts` written in the model (not a source): refused in the model's file, at the name; with
    no teams, the dbt step reads it (waits for its writer) like a source."""
    from akko_orchestrator.config.tenancy import Tenancy
    from akko_orchestrator.dbt.graph import DbtGraph, DbtNode
    from akko_orchestrator.plan.dbt_steps import DbtLookup

    models = tmp_path / "dbt" / "models"
    models.mkdir(parents=True)
    (models / "mart.sql").write_text(
        "{{ config(materialized='table') }}\nwith recent as (select * from {{ ref('stg') }})\n"
        "select r.*, a.balance\nfrom recent as r\njoin banking.accounts as a on a.id = r.account_id\n"
        "{% if is_incremental() %} where r.day > (select max(day) from {{ this }}) {% endif %}\n"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text("pipeline: p\nowner: o\nteam: demo\nsteps:\n  - {id: build, kind: dbt, project: dbt}\n")
    graph = DbtGraph(
        "x",
        "f",
        "akko",
        "demo",
        (DbtNode("model.x.mart", "mart", "model", "demo", "mart", "table", "models/mart.sql"),),
    )
    pipeline, source = load_spec(spec, "spec.yaml")
    tenancy = Tenancy.from_raw({"demo": {"namespaces": ["demo"]}, "banking": {"namespaces": ["banking"]}})
    with pytest.raises(SpecError) as raised:
        build_plan(pipeline, source, dbt_graphs=lambda *_: DbtLookup(graph), tenancy=tenancy)
    [issue] = raised.value.issues
    assert (issue.file, issue.line, issue.column, issue.field) == (
        "dbt/models/mart.sql",
        5,
        6,
        "steps[0].project",
    )
    assert issue.reason.startswith(
        "table banking.accounts is in namespace 'banking', which team 'demo' may not read"
    )
    plan = build_plan(pipeline, source, dbt_graphs=lambda *_: DbtLookup(graph))
    assert plan.step("build").reads == ("banking.accounts",)


def test_a_check_on_a_column_the_written_table_lacks_fails_naming_it(tmp_path: Path) -> None:
    """A python step's columns are unknown to validate: at run time the check fails naming the check, the column
    and the table's columns (not the engine's binder error about AKKO's internal alias), and nothing publishes."""
    from akko.testing import run_pipeline

    (tmp_path / "akko.yaml").write_text("project: p\npipelines: pipelines\npython_path: [pipelines]\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "make_rows.py").write_text(
        "def rows():\n    return [{'id': 1, 'region': 'EU'}]\n"
    )
    spec = tmp_path / "pipelines" / "p.yaml"
    spec.write_text(
        "pipeline: p\nowner: tests\nteam: demo\nsteps:\n  - id: make\n    kind: python\n    function: make_rows:rows\n"
        "    output: {table: demo.rows}\n    checks: [{not_null: [regoin]}]\n"
    )
    result = run_pipeline(spec, project=tmp_path)
    [error] = result.errors.values()
    assert str(error) == (
        "check 'not_null_regoin' on demo.rows: the table has no column 'regoin'; did you mean 'region'? "
        "(its columns: id, region)"
    )
    assert "_akko_t" not in str(error)
    assert not result.catalog.table_exists("demo.rows") or not result.table("demo.rows").num_rows


def test_a_check_reading_a_table_nobody_writes_is_located(tmp_path: Path) -> None:
    """A relationship's `to` and a `sql` check read tables too: one that nobody writes and that does not exist is
    reported at its place, like a step's own reads."""
    from akko_orchestrator.spec.validate import validate_path

    (tmp_path / "akko.yaml").write_text("project: p\npipelines: pipelines\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "pipeline: p\nowner: tests\nteam: demo\nsteps:\n  - id: make\n    kind: sql\n"
        "    sql: SELECT 1 AS id\n    output: {table: demo.rows}\n    checks:\n"
        "      - relationships: {column: id, to: demo.nowhere}\n"
        "      - sql: SELECT id FROM demo.rows WHERE id NOT IN (SELECT id FROM demo.elsewhere)\n"
    )
    report = validate_path(
        tmp_path / "pipelines", tmp_path, lambda table: False, "local", ["local"], "embedded"
    )
    shown = sorted(issue.format() for issue in report.issues)
    assert shown == [
        "pipelines/p.yaml:10:41: steps[0].checks[0].relationships.to: table demo.nowhere is read but no "
        "pipeline writes it and it does not exist (add a step that writes it, or fix the name)",
        "pipelines/p.yaml:11:71: steps[0].checks[1].sql: table demo.elsewhere is read but no pipeline writes it "
        "and it does not exist (add a step that writes it, or fix the name)",
    ]
