"""The quality-gate CLI as a user runs it: `akko demo --bad-rows`, `akko checks` (history, --all, --rerun),
`akko tables` showing audit branches, `akko query --at` on one, `akko tables --drop-audit`; and every command
with data readable in an 80-column terminal (the good demo runs at 80 columns) and as --json.

Three pipeline runs in all (a good demo, a bad one, the small mart with --json), shared by the module: the
demos cost ~15 s each. The 80-column reads run in this process (CliRunner: no interpreter start each).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import copy_project
from tests.fixtures.cli import akko, cli_env

pytestmark = pytest.mark.e2e
PIPELINE = "akko_e2e_pipeline"
BRANCH = "akko_audit__akko_e2e_pipeline__transform_sales"


class Cli:
    def __init__(self, root: Path):
        self.root = root
        self.env = cli_env(root, root / ".akko")

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return akko(*args, env=self.env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def count_rows(cli: Cli, sql: str, *options: str) -> int:
    out = ok(cli("query", sql, *options))
    return int(re.findall(r"│\s*(\d+)\s*│", out)[-1])


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(copy_project(tmp_path_factory.mktemp("checks_cli") / "project"))


@pytest.fixture(scope="module")
def good_demo(cli: Cli) -> str:
    return ok(akko("demo", env={**cli.env, "COLUMNS": "80"}))  # as piped or in an 80-column terminal


@pytest.fixture(scope="module")
def bad_demo(cli: Cli, good_demo: str) -> subprocess.CompletedProcess[str]:
    return cli("demo", "--bad-rows", "3")


def test_nothing_recorded_yet(cli: Cli) -> None:
    out = ok(cli("checks", "sales_by_region_mart"))
    assert "No check results recorded for sales_by_region_mart yet" in out
    unknown = cli("checks", "no_such_pipeline")
    assert unknown.returncode == 1 and "no pipeline 'no_such_pipeline'" in unknown.stderr


def test_checks_after_a_good_run_pass(cli: Cli, good_demo: str) -> None:
    out = ok(cli("checks", PIPELINE))
    assert "latest check results" in out
    for name in ("land_sales", "transform_sales", "demo.sales", "accepted_values_region", "no_future_sales"):
        assert name in out
    assert not re.search(r"│ (fail|warn)\s", out)
    assert "9 passed" in out  # 2 on demo.raw_sales, 7 on demo.sales


def test_bad_rows_demo_shows_the_gate(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    out = ok(bad_demo)
    assert "transform_sales failed on its checks" in out
    assert "3 check(s) failed on demo.sales: unique_sale_id, accepted_values_region, range_quantity" in out
    assert "demo.sales unchanged" in out
    before = re.search(r"main before: snapshot (\d+), (\d+) rows", out)
    after = re.search(r"main after:  snapshot (\d+), (\d+) rows", out)
    assert before and after and before.groups() == after.groups() and before.group(2) == "12"
    assert f"branch {BRANCH} (snapshot" in out and "15 rows" in out
    assert "Downstream steps did not run: summary (upstream_failed), verify_sales (upstream_failed)" in out


def test_tables_show_the_audit_branch(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    listing = ok(cli("tables"))
    assert "audit branches" in listing
    assert re.search(r"│ demo\.sales\s*│.*│ 1\s*│", listing)
    assert "1 audit branch(es) hold data rejected by checks" in listing
    detail = ok(cli("tables", "demo.sales"))
    assert "demo.sales branches (besides main)" in detail
    row = next(line for line in detail.splitlines() if line.startswith(f"│ {BRANCH}"))
    assert "audit branch" in row and "│ 15 " in row and "akko_e2e_pipeline/transform_sales" in row
    assert "akko tables --drop-audit demo.sales" in detail
    # the hint's query reads the branch: the 3 bad rows are there (main has none: see the demo's before/after)
    mars = "SELECT count(*) AS n FROM demo.sales WHERE region = 'MARS'"
    assert count_rows(cli, mars, "--at", f"demo.sales={BRANCH}") == 3


def test_checks_show_the_failures(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    out = ok(cli("checks", PIPELINE))
    for name in ("unique_sale_id", "accepted_values_region", "range_quantity"):
        assert re.search(rf"│ {name}\s*│ fail\s*│\s*3 │", out), name
    assert "3 failed" in out
    assert "sample of transform_sales / accepted_values_region" in out and "MARS" in out
    assert f"waits on branch {BRANCH} of demo.sales" in out
    history = ok(cli("checks", PIPELINE, "--all"))
    assert "check results of the last 2 of 2 run(s)" in history
    assert "15 passed, 3 failed" in history  # 9 + 6 passed, 3 failed over both runs
    assert "last 1 of 2 run(s)" in ok(cli("checks", PIPELINE, "--all", "--limit", "1"))


def test_rerun_checks_current_main(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    out = ok(cli("checks", PIPELINE, "--rerun"))
    assert "transform_sales · demo.sales (main, snapshot" in out and "12 rows" in out
    assert "not recorded in the check history" in out
    assert "every error check passes on the current data" in out
    assert "3 failed" in ok(
        cli("checks", PIPELINE)
    )  # not recorded: the latest results are still the failed run's


def test_rerun_fails_on_a_stricter_check(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    """--rerun plans the spec as it is now: a check added since the last run is judged on current data."""
    spec = cli.root / "pipelines" / "akko_e2e_pipeline.yaml"
    text = spec.read_text()
    spec.write_text(
        text.replace("      - row_count: {min: 1, max_shrink: 50%}", "      - row_count: {max: 5}", 1)
    )
    try:
        result = cli("checks", PIPELINE, "--rerun")
    finally:
        spec.write_text(text)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"│ row_count\s*│ error\s*│ fail", result.stdout)
    assert "error checks failed" in result.stderr and "transform_sales (row_count)" in result.stderr


def long_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 80]


def test_demo_reads_at_80_columns(good_demo: str) -> None:
    assert not long_lines(good_demo), good_demo
    steps = ("generate_sales", "land_sales.load_file[0]", "land_sales.commit", "transform_sales", "summary")
    for step in steps:  # whole, first on their line of the summary
        assert re.search(rf"(?m)^{re.escape(step)} +success +[\d.]+s$", good_demo), step
    assert "    table: demo.sales · rows written: 12 · checks: 7 passed" in good_demo.splitlines()


@pytest.fixture
def narrow(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """`akko ...` in this process, its consoles 80 columns wide; returns stdout (asserting exit 0)."""
    from typer.testing import CliRunner

    from akko_orchestrator.cli.console import console, err_console
    from akko_orchestrator.cli.main import app

    monkeypatch.setattr(console, "width", 80)
    monkeypatch.setattr(err_console, "width", 80)
    monkeypatch.setenv("AKKO_STATE_DIR", str(cli.root / ".akko"))
    monkeypatch.delenv("AKKO_PROFILE", raising=False)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, ["--project", str(cli.root), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


def test_checks_read_at_80_columns_and_as_json(narrow: Callable[..., str], bad_demo: object) -> None:
    out = narrow("checks", PIPELINE)
    assert not long_lines(out), out
    assert "step: transform_sales · table: demo.sales" in out
    for name in ("unique_sale_id", "accepted_values_region", "range_quantity"):
        assert re.search(rf"(?m)^  {name} +fail$", out), name
    assert re.search(r"(?m)^  not_null_sale_id_sale_date_product_region +pass$", out)
    assert "      failing rows: 3 · observed: 3 duplicate row(s)" in out.splitlines()

    latest = json.loads(narrow("checks", PIPELINE, "--json"))
    assert latest["mode"] == "latest" and latest["counts"] == {"pass": 6, "fail": 3, "warn": 0}
    failed = {r["check"]: r for r in latest["results"] if r["status"] == "fail"}
    assert set(failed) == {"unique_sale_id", "accepted_values_region", "range_quantity"}
    assert failed["accepted_values_region"]["failing_rows"] == 3
    assert {tuple(row[3:5]) for row in failed["accepted_values_region"]["sample"]["rows"]} == {("MARS", 0)}
    history = json.loads(narrow("checks", PIPELINE, "--all", "--json"))
    assert history["runs_recorded"] == 2 and history["counts"] == {"pass": 15, "fail": 3, "warn": 0}


def test_tables_read_at_80_columns_and_as_json(narrow: Callable[..., str], bad_demo: object) -> None:
    listing = narrow("tables")
    assert not long_lines(listing), listing
    assert re.search(r"(?m)^demo\.sales +12 rows +\d+ files? +[\d.]+ kB$", listing)
    assert "last maintenance: never" in listing and "audit branches: 1" in listing

    detail = narrow("tables", "demo.sales")
    assert not long_lines(detail), detail
    assert re.search(rf"(?m)^{BRANCH} +audit branch$", detail)
    shown = json.loads(narrow("tables", "demo.sales", "--json"))
    assert shown["rows"] == 12 and shown["data_files"] >= 1 and shown["last_maintenance"] is None
    [branch] = shown["branches"]
    assert (branch["ref"], branch["audit"], branch["rows"]) == (BRANCH, True, 15)
    for snapshot in shown["snapshots"]:
        assert re.search(rf"(?m)^{snapshot['snapshot_id']} ", detail)  # every snapshot id whole
    # the command to query the branch, broken over lines with ` \`, is still one command when pasted
    start = detail.index("  akko query")
    command = shlex.split(detail[start:].split("\nRemove it:")[0].replace("\\\n", " "))
    assert command == ["akko", "query", 'SELECT * FROM "demo"."sales"', "--at", f"demo.sales={BRANCH}"]


def test_query_and_lineage_read_at_80_columns_and_as_json(
    narrow: Callable[..., str], bad_demo: object
) -> None:
    sql = "SELECT *, 'from the e2e test of the CLI at 80 columns' AS note FROM demo.sales ORDER BY sale_id"
    rows = narrow("query", sql)
    assert not long_lines(rows), rows
    assert rows.splitlines()[:3] == ["12 row(s)", "row 1", "  sale_id     1"]
    answer = json.loads(narrow("query", sql, "--json"))
    assert answer["row_count"] == 12 and answer["columns"][-1] == "note" and answer["rows"][0][0] == 1

    tree = narrow("lineage", "demo.sales")
    assert not long_lines(tree), tree
    assert "demo.raw_sales" in tree and "akko_e2e_pipeline.transform_sales" in tree
    graph = json.loads(narrow("lineage", "demo.sales", "--json"))
    assert graph["written_by"] == ["akko_e2e_pipeline.transform_sales"]
    assert [node["dataset"] for node in graph["upstream"]] == ["demo.raw_sales"]


def test_run_json_is_the_report_alone_on_stdout(cli: Cli, bad_demo: object) -> None:
    result = cli("run", "sales_by_region_mart", "--json")
    report = json.loads(ok(result))  # nothing but the JSON on stdout: progress went to stderr
    assert "✓ build_mart" in result.stderr
    assert (report["pipeline"], report["state"], report["log_file"]) == (
        "sales_by_region_mart",
        "success",
        None,
    )
    [step] = report["steps"]
    assert (step["step"], step["state"], step["table"], step["rows_written"]) == (
        "build_mart",
        "success",
        "marts.revenue_by_region",
        3,
    )
    assert step["checks"] == {"passed": 3, "warned": [], "failed": 0} and step["error"] is None


def test_drop_audit_removes_the_branch(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    out = ok(cli("tables", "--drop-audit", "demo.sales"))
    assert f"removed demo.sales branch {BRANCH}" in out and "1 audit branch(es) removed." in out
    assert "demo.sales branches: main only" in ok(cli("tables", "demo.sales"))
    assert "No audit branch on any table." in ok(cli("tables", "--drop-audit"))
    assert count_rows(cli, "SELECT count(*) AS n FROM demo.sales") == 12
