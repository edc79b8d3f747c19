"""The quality-gate CLI as a user runs it: `akko demo --bad-rows`, `akko checks` (history, --all, --rerun),
`akko tables` showing audit branches, `akko query --at` on one, `akko tables --drop-audit`.

Two pipeline runs in all (a good demo, then a bad one), shared by the module: each costs ~15 s.
"""

from __future__ import annotations

import re
import subprocess
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
    return ok(cli("demo"))


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


def test_drop_audit_removes_the_branch(cli: Cli, bad_demo: subprocess.CompletedProcess[str]) -> None:
    out = ok(cli("tables", "--drop-audit", "demo.sales"))
    assert f"removed demo.sales branch {BRANCH}" in out and "1 audit branch(es) removed." in out
    assert "demo.sales branches: main only" in ok(cli("tables", "demo.sales"))
    assert "No audit branch on any table." in ok(cli("tables", "--drop-audit"))
    assert count_rows(cli, "SELECT count(*) AS n FROM demo.sales") == 12
