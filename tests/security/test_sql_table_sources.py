"""Identifiers DuckDB reads as files (issue 21, class 2), tried as a hostile `demo` author on the embedded lakehouse:
a quoted path, a string in FROM, a name split into a path, a CTE name used where the CTE is not visible, a table
function; in a step's SQL, a check's `sql`, a check's `expression`, `akko query`, and a `.sql` file rewritten after
the DAG was parsed. Each is refused at validate, at the table's name (where the spec is judged), and again by the
engine at run time, and banking's rows never come back."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from akko_orchestrator.config.tenancy import Tenancy
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.runtime.query import read_only_query
from akko_orchestrator.runtime.transforms import run_sql
from akko_orchestrator.spec.checks import Check
from akko_orchestrator.spec.loader import load_spec
from akko_orchestrator.spec.validate import validate_path
from tests.security._two_teams import SECRET, TwoTeams, located, spec, two_teams

# (SQL template, the refused table as written, its occurrence in the SQL)
READS = {
    "quoted path": ('SELECT * FROM "{data}/*.parquet"', '"{data}/*.parquet"', 0),
    "string in FROM": ("SELECT * FROM '{file}'", "'{file}'", 0),
    "name split into a path": ('SELECT * FROM "{stem}".parquet', '"{stem}".parquet', 0),
    "path in a scalar subquery": (
        'SELECT (SELECT count(*) FROM "{file}") AS n FROM demo.sales',
        '"{file}"',
        0,
    ),
    "path in a join": ('SELECT s.sale_id FROM demo.sales AS s JOIN "{file}" AS b ON true', '"{file}"', 0),
    "path in a union": ('SELECT 1 AS x FROM demo.sales UNION ALL SELECT 1 FROM "{file}"', '"{file}"', 0),
    "path in EXISTS": ('SELECT 1 AS x FROM demo.sales WHERE EXISTS (SELECT 1 FROM "{file}")', '"{file}"', 0),
    "CTE named by its own body": (
        'WITH "{file}" AS (SELECT * FROM "{file}") SELECT * FROM "{file}"',
        '"{file}"',
        1,
    ),
    "CTE named outside its subquery": (
        'SELECT * FROM (WITH "{file}" AS (SELECT 1 AS a) SELECT a FROM "{file}") AS t, "{file}"',
        '"{file}"',
        2,
    ),
    "table function": ("SELECT * FROM read_parquet('{file}')", "read_parquet", 0),
    "query_table": ("SELECT * FROM query_table('{file}')", "query_table", 0),
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> TwoTeams:
    return two_teams(tmp_path_factory.mktemp("sources") / "project")


def _validated(lake: TwoTeams, path: Path) -> list[str]:
    report = validate_path(path.parent, lake.root, profile="local", engine="embedded")
    return [issue.format() for issue in report.issues]


def _sql_step(sql: str, extra: str = "") -> str:
    return f"  - id: grab\n    kind: sql\n    sql: |\n      {sql}\n    output: {{table: demo.exfil}}\n{extra}"


@pytest.mark.parametrize("probe", sorted(READS))
def test_step_sql_reading_a_file_is_refused_at_validate_and_at_run_time(lake: TwoTeams, probe: str) -> None:
    template, table, occurrence = READS[probe]
    sql, table = lake.probe(template), lake.probe(table)
    path = spec(lake.root, f"step_{_slug(probe)}", _sql_step(sql))
    issues = _validated(lake, path)
    where = located(path, table, occurrence)
    assert any(f":{where}: steps[0].sql" in issue for issue in issues), (where, issues)
    with pytest.raises(AkkoError) as refused:
        lake.context("demo").sql_engine.query(sql, ["demo.sales"])
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize(
    "probe", ["quoted path", "string in FROM", "name split into a path", "table function"]
)
def test_a_checks_sql_reading_a_file_is_refused_at_validate_and_at_run_time(
    lake: TwoTeams, probe: str
) -> None:
    template, table, occurrence = READS[probe]
    check_sql = lake.probe(template)
    hostile = f"    checks:\n      - sql: |\n          {check_sql}\n"
    path = spec(lake.root, f"check_{_slug(probe)}", _sql_step("SELECT * FROM demo.sales", hostile))
    where = located(path, lake.probe(table), occurrence)
    assert any(f":{where}: steps[0].checks[0].sql" in issue for issue in _validated(lake, path))
    error = _run_edited(lake, "SELECT * FROM demo.sales", {"sql": check_sql})
    assert SECRET not in error


@pytest.mark.parametrize(
    ("expression", "table"),
    [
        ('amount < (SELECT count(*) FROM "{file}")', '"{file}"'),
        ("EXISTS (SELECT 1 FROM '{file}')", "'{file}'"),
        ('amount IN (SELECT balance FROM "{stem}".parquet)', '"{stem}".parquet'),
        ("amount < (SELECT max(balance) FROM banking.accounts)", "banking.accounts"),
    ],
)
def test_a_checks_expression_reading_a_table_is_refused(lake: TwoTeams, expression: str, table: str) -> None:
    """An expression sees the checked table's columns only: a subquery reading anything else is refused."""
    condition = lake.probe(expression)
    hostile = f"    checks:\n      - expression: |\n          {condition}\n"
    path = spec(lake.root, f"expr_{_slug(table)}", _sql_step("SELECT * FROM demo.sales", hostile))
    where = located(path, lake.probe(table))
    assert any(f":{where}: steps[0].checks[0].expression" in issue for issue in _validated(lake, path))
    assert SECRET not in _run_edited(lake, "SELECT * FROM demo.sales", {"expression": condition})


@pytest.mark.parametrize(
    "probe", ["quoted path", "string in FROM", "name split into a path", "CTE named outside its subquery"]
)
def test_akko_query_reading_a_file_is_refused(lake: TwoTeams, probe: str) -> None:
    """`akko query` runs without a team, on the whole warehouse: the table rule is its wall."""
    sql = lake.probe(READS[probe][0])
    for text in (sql, f"EXPLAIN {sql}"):
        with pytest.raises(AkkoError) as refused:
            read_only_query(lake.context(None), text)
        assert SECRET not in str(refused.value)


def test_a_sql_file_rewritten_after_parsing_is_refused_at_run_time(lake: TwoTeams) -> None:
    """The DAG was parsed with a clean `.sql` file; the file now reads banking's data files: the run refuses it."""
    folder = lake.root / "probes" / "rewritten"
    path = spec(
        lake.root,
        "rewritten",
        "  - id: grab\n    kind: sql\n    file: grab.sql\n    output: {table: demo.exfil}\n",
    )
    (folder / "grab.sql").write_text("SELECT * FROM demo.sales", encoding="utf-8")
    pipeline, source = load_spec(path, "rewritten.yaml")
    plan = build_plan(
        pipeline, source, profile="local", engine="embedded", tenancy=Tenancy.of(lake.project.config)
    )
    for template in (
        'SELECT * FROM "{data}/*.parquet"',
        'SELECT * FROM "{stem}".parquet',
        "SELECT * FROM '{file}'",
    ):
        (folder / "grab.sql").write_text(lake.probe(template), encoding="utf-8")
        ctx = lake.context("demo", "grab")
        with pytest.raises(AkkoError) as refused:  # the operator reads the file when the task runs
            run_sql(ctx, plan.steps[0], {"sql": (folder / "grab.sql").read_text(encoding="utf-8")})
        assert SECRET not in str(refused.value)
    assert not open_catalog(lake.project).table_exists("demo.exfil")


def _run_edited(lake: TwoTeams, sql: str, check: dict[str, str]) -> str:
    """Run a clean step whose spec was edited after the DAG was parsed: it now has `check`. The step fails (its
    error returned) and its table is not published."""
    name = f"edited_{_slug(str(check))}"
    path = spec(lake.root, name, _sql_step(sql).replace("demo.exfil", f"demo.{name}"))
    pipeline, source = load_spec(path, f"{name}.yaml")
    plan = build_plan(
        pipeline, source, profile="local", engine="embedded", tenancy=Tenancy.of(lake.project.config)
    )
    planned = plan.steps[0]
    edited = planned.step.model_copy(update={"checks": [Check.model_validate(check)]})
    with pytest.raises(AkkoError) as refused:
        run_sql(lake.context("demo", "grab"), dataclasses.replace(planned, step=edited), {"sql": sql})
    catalog = open_catalog(lake.project)
    if catalog.table_exists(f"demo.{name}"):
        assert (
            catalog.load_table(f"demo.{name}").scan().to_arrow().num_rows == 0
        )  # created empty, not published
    return str(refused.value)


def _slug(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]
