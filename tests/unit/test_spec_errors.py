"""Spec errors: every broken spec under tests/fixtures/bad_specs/<case>/ is reported at its exact file, line,
column and field, with a reason that says what to fix; `akko validate` prints them and exits 1."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.errors import SpecError
from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.spec.loader import load_spec
from akko_orchestrator.spec.validate import validate_path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
BAD = FIXTURES / "bad_specs"
GOOD = FIXTURES / "good_specs"

# case folder -> every issue, as (file, line, column, field, reason, suggestion); files relative to the folder.
CASES: dict[str, list[tuple[str, int, int, str, str, str | None]]] = {
    "invalid_yaml": [
        (
            "spec.yaml", 8, 10, "",
            "invalid YAML: found unexpected end of stream while scanning a quoted scalar",
            "close the quote",
        )
    ],
    "duplicate_yaml_key": [
        ("spec.yaml", 9, 5, "", "invalid YAML: duplicate key 'sql' (first at line 8): keep only one", None)
    ],
    "not_a_query": [
        (
            "spec.yaml", 8, 10, "steps[0].sql",
            "COPY is not a query: a step's SQL is one SELECT (or WITH, VALUES, TABLE), whose result AKKO writes "
            "(set the step's `output` to write a table; files land through `ingest` steps)",
            None,
        ),
        (
            "spec.yaml", 12, 31, "steps[1].queries.counted",
            "a second statement: a step's SQL is one query, whose result AKKO writes", None,
        ),
        (
            "spec.yaml", 16, 7, "steps[2].sql",
            "INSTALL is not a query: a step's SQL is one SELECT (or WITH, VALUES, TABLE), whose result AKKO "
            "writes (extensions are not part of spec SQL)",
            None,
        ),
    ],
    "alert_errors": [
        (
            "spec.yaml", 6, 19, "alerts[0].on[1]",
            "'check_warnings' is not allowed; expected 'failure', 'check_warning' or 'deadline_missed'",
            "did you mean `check_warning`?",
        ),
        ("spec.yaml", 9, 5, "alerts[1].emial", "unknown field", "did you mean `email`?"),
        ("spec.yaml", 10, 5, "alerts[2]", "give exactly one target: `slack` or `email`", None),
        ("spec.yaml", 12, 17, "alerts[3].email.to", "not an e-mail address: data-team", None),
        (
            "spec.yaml", 13, 16, "deadline.by", "'6am' is not a UTC time of day",
            "write HH:MM on 24 hours, e.g. `06:00`",
        ),
    ],
    "check_errors": [
        (
            "spec.yaml", 10, 9, "steps[0].checks[0]",
            "give exactly one check kind of not_null, unique, accepted_values, range, row_count, freshness, "
            "relationships, expression, sql (got not_null, unique)",
            None,
        ),
        ("spec.yaml", 12, 9, "steps[0].checks[1].uniqe", "unknown field", "did you mean `unique`?"),
        ("spec.yaml", 13, 9, "steps[0].checks[2].range", "give `min`, `max` or both", None),
        (
            "spec.yaml", 14, 33, "steps[0].checks[3].row_count.max_shrink",
            "'ten' is not a percentage", "write a number followed by %, e.g. `10%`",
        ),
    ],
    "check_sql": [  # (approx_distinct in checks[1] is refused on the embedded profile only: see below)
        (
            "spec.yaml", 10, 24, "steps[0].checks[0].expression",
            "SQL does not parse as Trino: incomplete SQL: an expression is missing after '>'", None,
        ),
        (
            "spec.yaml", 13, 9, "steps[0].checks[3]",
            "two checks named 'not_null_id' (the first is checks[2])", "give one a distinct `name`",
        ),
        (
            "spec.yaml", 19, 7, "steps[1].checks",
            "`checks` need an output table: they audit what the step writes before it is published",
            "add `output` or remove them",
        ),
    ],
    "unknown_top_field": [("spec.yaml", 5, 1, "schedul", "unknown field", "did you mean `schedule`?")],
    "unknown_step_field": [("spec.yaml", 9, 5, "steps[0].outptu", "unknown field", "did you mean `output`?")],
    "unknown_step_kind": [
        (
            "spec.yaml", 7, 11, "steps[0].kind",
            "unknown step kind 'sq'; expected one of ingest, sql, python, spark, dbt",
            "did you mean `sql`?",
        )
    ],
    "missing_required_field": [
        ("spec.yaml", 2, 1, "owner", "required field is missing", "add `owner:` at the top level"),
        ("spec.yaml", 5, 5, "steps[0].output", "required field is missing", "add `output:` to steps[0]"),
    ],
    "merge_without_keys": [
        ("spec.yaml", 10, 5, "steps[0].output", "mode 'merge' needs `keys` (the columns that identify a row)", None)
    ],
    "duplicate_step_ids": [
        (
            "spec.yaml", 12, 9, "steps[1].id",
            "duplicate step id 'load' (first used by steps[0])",
            "step ids are Airflow task ids and must be unique in a pipeline: rename one",
        )
    ],
    "duplicate_pipeline_ids": [
        (
            "second.yaml", 2, 11, "pipeline",
            "duplicate pipeline id 'daily_sales' (also in first.yaml)",
            "a pipeline id is its Airflow dag_id and must be unique: rename one",
        )
    ],
    "unknown_after": [
        (
            "spec.yaml", 15, 13, "steps[1].after[0]",
            "unknown step 'land_sale' in `after`",
            "did you mean `land_sales`?",
        )
    ],
    "dependency_cycle": [
        (
            "spec.yaml", 6, 9, "steps[0].id",
            "dependency cycle clean_sales -> enrich_sales -> clean_sales: "
            "each step waits for the next, through a table it reads or `after`",
            "remove an `after` or a table read to break the cycle",
        )
    ],
    "table_never_written": [
        (
            "reader.yaml", 10, 12, "steps[0].sql",
            "table demo.sale is read but no pipeline writes it and it does not exist",
            "add a step that writes it, or fix the name",
        )
    ],
    "bad_cron": [
        (
            "spec.yaml", 5, 14, "schedule",
            "'0 25 * * *' is not a valid cron expression: '25' is not a valid hour (0-23)",
            "e.g. '0 6 * * *' for 06:00 every day, '@daily' or `manual`",
        )
    ],
    "bad_duration": [
        (
            "spec.yaml", 7, 16, "defaults.retry_delay",
            "'5 minutes' is not a duration",
            "write a number followed by ms, s, m, h or d, e.g. `30s`, `5m`, `2h`",
        )
    ],
    "sql_syntax_block": [
        (
            "spec.yaml", 11, 7, "steps[0].sql",
            "SQL does not parse as Trino: incomplete SQL: an expression is missing after 'WHERE'",
            None,
        )
    ],
    "sql_syntax_plain": [
        (
            "spec.yaml", 8, 10, "steps[0].sql",
            "SQL does not parse as Trino: 'SELEC' is not a statement: did you mean SELECT?",
            None,
        )
    ],
    "sql_syntax_file": [
        ("sql/revenue.sql", 3, 34, "steps[0].file", "SQL does not parse as Trino: expected ')' near 'AS'", None)
    ],
    "non_iceberg_catalog": [
        (
            "spec.yaml", 10, 12, "steps[0].sql",
            "table 'postgresql.banking.transactions' is in catalog 'postgresql', not in the Iceberg lakehouse",
            "copy it into the lakehouse with an `ingest` step whose source is `sql`, and read that table",
        )
    ],
    "schedule_on_unknown_table": [
        (
            "mart.yaml", 6, 20, "schedule.on[1]",
            "table demo.sales_daily is read but no pipeline writes it and it does not exist",
            "add a step that writes it, or fix the name",
        )
    ],
    "ingest_two_sources": [
        ("spec.yaml", 8, 5, "steps[0].source", "give exactly one of `files`, `http`, `sql` (got files, http)", None)
    ],
    "credentials_in_url": [
        (
            "spec.yaml", 10, 14, "steps[0].source.http.url",
            "credentials do not belong in a spec: remove `user:password@` and use `conn_id`, "
            "an Airflow HTTP connection holding them",
            None,
        )
    ],
}  # fmt: skip

# Cases whose folder also holds specs that must stay valid.
GOOD_BESIDE = {
    "duplicate_pipeline_ids": ["first.yaml"],
    "table_never_written": ["writer.yaml"],
    "schedule_on_unknown_table": ["writer.yaml"],
}


def never_exists(table: str) -> bool:
    return False


def issues_of(folder: Path) -> list[tuple[str, int | None, int | None, str, str, str | None]]:
    report = validate_path(folder, folder, table_exists=never_exists)
    return [(i.file, i.line, i.column, i.field, i.reason, i.suggestion) for i in report.issues]


def test_every_fixture_folder_is_a_case() -> None:
    assert sorted(p.name for p in BAD.iterdir() if p.is_dir()) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_spec_is_reported_at_its_exact_place(case: str) -> None:
    assert issues_of(BAD / case) == CASES[case]


@pytest.mark.parametrize("case", sorted(CASES))
def test_only_the_broken_files_are_invalid(case: str) -> None:
    report = validate_path(BAD / case, BAD / case, table_exists=never_exists)
    spec_files = sorted(p.relative_to(BAD / case).as_posix() for p in (BAD / case).rglob("*.yaml"))
    assert report.valid_files == GOOD_BESIDE.get(case, [])
    assert sorted(report.valid_files + report.invalid_files) == spec_files


def test_issue_format_is_file_line_column_field_reason_suggestion() -> None:
    report = validate_path(BAD / "unknown_step_field", BAD, table_exists=never_exists)
    assert [i.format() for i in report.issues] == [
        "unknown_step_field/spec.yaml:9:5: steps[0].outptu: unknown field (did you mean `output`?)"
    ]


def test_airflow_import_error_has_the_same_location(tmp_path: Path) -> None:
    """What a shim raises at parse time names the same file:line:column (here inside the .sql file)."""
    from akko_orchestrator.compiler.entry import compile_plan

    with pytest.raises(SpecError) as raised:
        compile_plan(BAD / "sql_syntax_file" / "spec.yaml", REPO, cache_file=tmp_path / "cache.json")
    assert str(raised.value) == (
        "tests/fixtures/bad_specs/sql_syntax_file/sql/revenue.sql:3:34: steps[0].file: "
        "SQL does not parse as Trino: expected ')' near 'AS'"
    )


def test_without_a_catalog_unwritten_tables_are_not_checked() -> None:
    assert issues_of_without_catalog(BAD / "table_never_written") == []


def issues_of_without_catalog(folder: Path) -> list[str]:
    return [i.format() for i in validate_path(folder, folder, table_exists=None).issues]


def test_good_specs_are_valid(tmp_path: Path) -> None:
    """In a project as users have it: akko.yaml, the specs in its pipelines folder, which is also its python_path
    (where rates_api.yaml's python step finds its module)."""
    project = make_project(tmp_path / "project")
    shutil.copytree(GOOD, project / "pipelines")
    report = validate_path(project / "pipelines", project, table_exists=never_exists)
    assert report.issues == []
    assert report.valid_files == [
        f"pipelines/{name}.yaml" for name in ("orders_ingest", "rates_api", "revenue_mart")
    ]
    mart = report.plans["pipelines/revenue_mart.yaml"]
    assert mart.step("build_mart").reads == ("shop.daily_orders",)  # read from the .sql file
    assert mart.step("verify_mart").upstream == ("build_mart",)


# --- positions inside SQL, through every YAML scalar style -------------------------------------------------

SPEC_HEAD = "pipeline: p\nowner: o\nteam: t\nsteps:\n  - id: s\n    kind: sql\n"  # the SQL starts on line 7


@pytest.mark.parametrize(
    ("sql_yaml", "line", "column"),
    [
        ("    sql: SELECT a FROM n.t WHERE\n", 7, 28),  # plain
        ('    sql: "SELECT a FROM n.t WHERE"\n', 7, 29),  # double-quoted
        ("    sql: 'SELECT ''x'' FROM n.t WHERE'\n", 7, 33),  # single-quoted with an escaped quote
        ("    sql: SELECT a\n      FROM n.t WHERE\n", 8, 16),  # plain over two lines
        ("    sql: |\n      SELECT a\n        FROM n.t WHERE\n", 9, 18),  # literal block, deeper line
        ("    sql: >\n      SELECT a\n      FROM n.t WHERE\n", 9, 16),  # folded block
        ("    sql: |-\n\n      SELECT a\n      FROM n.t WHERE\n", 10, 16),  # leading blank line
        ("    sql: |2\n        SELECT a\n        FROM n.t WHERE\n", 9, 18),  # indentation indicator
        ("    queries:\n      ok: SELECT 1\n      bad: SELECT a FROM n.t WHERE\n", 9, 30),
    ],
)
def test_sql_error_position_through_yaml_styles(
    tmp_path: Path, sql_yaml: str, line: int, column: int
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_HEAD + sql_yaml)
    [issue] = validate_path(spec, tmp_path).issues
    assert (issue.line, issue.column) == (line, column)
    assert (
        issue.reason == "SQL does not parse as Trino: incomplete SQL: an expression is missing after 'WHERE'"
    )
    assert spec.read_text().splitlines()[line - 1][column - 1 :].startswith("WHERE")


def test_unclosed_sql_string_is_reported_where_it_opens(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_HEAD + "    sql: |\n      SELECT a\n      FROM n.t WHERE b = 'x\n")
    [issue] = validate_path(spec, tmp_path).issues
    assert (issue.line, issue.column, issue.reason) == (
        9, 26, "SQL does not parse as Trino: unclosed string: add the closing '",
    )  # fmt: skip


def test_schedule_matching_no_form_gets_one_message(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "pipeline: p\nowner: o\nteam: t\nschedule: 5\nsteps:\n  - {id: s, kind: sql, sql: SELECT 1}\n"
    )
    [issue] = validate_path(spec, tmp_path).issues
    assert (issue.line, issue.column, issue.field) == (4, 11, "schedule")
    assert issue.reason.startswith("a number 5 is not allowed here; expected `manual`, a cron expression")


def test_schedule_mapping_errors_name_the_mapping_fields(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "pipeline: p\nowner: o\nteam: t\nschedule:\n  onn: [a.b]\nsteps:\n  - {id: s, kind: sql, sql: SELECT 1}\n"
    )
    issues = [
        (i.line, i.column, i.field, i.reason, i.suggestion) for i in validate_path(spec, tmp_path).issues
    ]
    assert issues == [
        (5, 3, "schedule.on", "required field is missing", "add `on:` to schedule"),
        (5, 3, "schedule.onn", "unknown field", "did you mean `on`?"),
    ]


def test_a_cached_plan_does_not_hide_a_sql_error() -> None:
    pipeline, source = load_spec(BAD / "non_iceberg_catalog" / "spec.yaml")
    cache: dict[str, list[str]] = {}
    for _ in range(2):
        with pytest.raises(SpecError, match="not in the Iceberg lakehouse"):
            build_plan(pipeline, source, cache)


# --- the CLI ----------------------------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose project comes from --project, with an empty state folder (no catalog)."""
    for name in ("AKKO_PROJECT_DIR", "AKKO_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / "state"))
    return CliRunner()


def make_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "akko.yaml").write_text("project: test\nlakehouse: akko\npipelines: pipelines\n")
    return root


def test_cli_validate_reports_the_broken_file_among_good_ones(tmp_path: Path, runner: CliRunner) -> None:
    project = make_project(tmp_path / "project")
    shutil.copytree(GOOD, project / "pipelines")
    shutil.copy(BAD / "unknown_step_field" / "spec.yaml", project / "pipelines" / "broken.yaml")
    result = runner.invoke(app, ["--project", str(project), "validate"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "error pipelines/broken.yaml:9:5: steps[0].outptu: unknown field (did you mean `output`?)"
    ]
    assert "3 of 4 spec file(s) valid." in result.stdout


def test_cli_validate_a_folder_given_as_argument(tmp_path: Path, runner: CliRunner) -> None:
    project = make_project(tmp_path / "project")
    shutil.copytree(BAD / "sql_syntax_file", project / "specs")
    result = runner.invoke(app, ["--project", str(project), "validate", str(project / "specs")])
    assert result.exit_code == 1
    assert (
        "specs/sql/revenue.sql:3:34: steps[0].file: SQL does not parse as Trino: expected ')' near 'AS'"
        in result.stderr
    )
    assert "0 of 1 spec file(s) valid." in result.stdout


def test_cli_validate_accepts_the_repository_pipelines(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--project", str(REPO), "validate"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^(\d+) of \1 spec file\(s\) valid\.$", result.stdout, re.MULTILINE), result.stdout


def test_akko_new_writes_a_spec_that_validates(tmp_path: Path, runner: CliRunner) -> None:
    project = make_project(tmp_path / "project")
    created = runner.invoke(app, ["--project", str(project), "new", "daily_orders", "--team", "shop"])
    assert created.exit_code == 0, created.output
    spec = project / "pipelines" / "daily_orders.yaml"
    report = validate_path(spec, project, table_exists=never_exists)
    assert report.issues == []
    assert report.plans["pipelines/daily_orders.yaml"].tables_written == (
        "shop.daily_orders",
        "shop.daily_orders_raw",
    )
    checked = runner.invoke(app, ["--project", str(project), "validate"])
    assert checked.exit_code == 0 and "1 of 1 spec file(s) valid." in checked.stdout


def test_check_sql_the_embedded_engine_cannot_answer_is_refused_at_its_place(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "pipeline: p\nowner: o\nteam: t\nsteps:\n  - id: s\n    kind: sql\n    sql: SELECT 1 AS id\n"
        "    output: {table: demo.t}\n    checks:\n"
        "      - sql: SELECT * FROM demo.t WHERE approx_distinct(id) > 1\n"
    )
    pipeline, source = load_spec(spec, "spec.yaml")
    build_plan(pipeline, source)  # Trino (cluster) answers it
    with pytest.raises(SpecError) as raised:
        build_plan(pipeline, source, engine="embedded")
    [issue] = raised.value.issues
    assert (issue.line, issue.column, issue.field) == (10, 41, "steps[0].checks[0].sql")
    assert issue.reason.startswith("approx_distinct: not supported by the embedded engine (DuckDB)")
