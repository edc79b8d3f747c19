"""`akko ci` as a CI job runs it, on a copy of the demo project: clean (exit 0, its akko.testing pipeline tests run
by pytest in a subprocess), then broken in every step (exit 1, each problem at its file and line).

Two `akko ci` runs in all; the second reuses the first's dbt graph and shim caches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_project
from tests.fixtures.cli import akko, cli_env

pytestmark = pytest.mark.e2e

BROKEN_DAG = """from airflow.sdk import DAG

with DAG("broken_dag", schedule=None, default_args={"owner": "ops"}):
    undefined_operator()
"""
BASH_DAG = """from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("bash_dag", schedule=None, default_args={"owner": "ops"}, tags=["team:demo"]):
    BashOperator(task_id="hello", bash_command="echo hi")
"""
FAILING_TEST = """def test_rows():
    rows = [1, 2]
    assert len(rows) == 3
"""


def run_ci(root: Path) -> tuple[int, dict, str]:
    done = akko("ci", "--json", env=cli_env(root, root / ".akko"))
    try:
        return done.returncode, json.loads(done.stdout), done.stderr
    except ValueError:
        raise AssertionError(done.stdout + done.stderr) from None


def test_akko_ci_passes_on_the_demo_and_names_every_problem_of_a_broken_repo(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project", teams=True)
    code, report, err = run_ci(root)
    assert code == 0, report["problems"] or err
    steps = {s["name"]: s for s in report["steps"]}
    assert [s["status"] for s in steps.values()] == ["ok", "ok", "ok", "ok"]
    assert "2 passed" in steps["tests"]["detail"]  # pipelines/tests, with akko.testing, through pytest
    assert set(steps["dags"]["timings"]) == {
        f"pipelines/{p.name}" for p in (root / "pipelines").glob("*.yaml")
    }

    spec = root / "pipelines" / "sales_by_region_mart.yaml"
    spec.write_text(spec.read_text().replace("owner: analytics", "ownr: analytics"))
    (root / "dags").mkdir()
    (root / "dags" / "broken.py").write_text(BROKEN_DAG)
    (root / "dags" / "bash.py").write_text(BASH_DAG)
    (root / "checks").mkdir()
    (root / "checks" / "test_rows.py").write_text(FAILING_TEST)
    akko_yaml = root / "akko.yaml"
    akko_yaml.write_text(akko_yaml.read_text().replace("tests: [pipelines/tests]", "tests: [checks]"))

    code, report, err = run_ci(root)
    assert code == 1, err
    found = {(p["file"], p["line"], p["step"], p["rule"]) for p in report["problems"]}
    assert found == {
        ("pipelines/sales_by_region_mart.yaml", 2, "validate", "spec"),  # owner missing
        ("pipelines/sales_by_region_mart.yaml", 4, "validate", "spec"),  # ownr: did you mean owner
        ("dags/broken.py", 4, "dags", "import"),
        ("dags/bash.py", 5, "dags", "policy"),
        ("checks/test_rows.py", 3, "tests", "test_rows"),
    }, report["problems"]
    messages = {p["file"]: p["message"] for p in report["problems"]}
    assert "NameError: name 'undefined_operator' is not defined" in messages["dags/broken.py"]
    assert (
        "[bash-operator]" in messages["dags/bash.py"]
    )  # AKKO's guardrails, as the dag-processor applies them
    assert "assert 2 == 3" in messages["checks/test_rows.py"]
    steps = {s["name"]: s for s in report["steps"]}
    assert {"dags/bash.py", "dags/broken.py"} <= set(steps["dags"]["timings"])
    assert "pipelines/sales_by_region_mart.yaml" not in steps["dags"]["timings"]  # reported by validate only
