"""Guardrails through real Airflow: hand-written DAG files in the project's `dags/` folder, parsed by Airflow's
DagBag in an interpreter configured as AKKO's Airflow processes are (the cluster policies come from the local
settings AKKO writes), beside the demo pipelines' shims; then a `dag.test()` run whose tasks commit to an Iceberg
table outside AKKO's writer and push an XCom over the limit, and a run of an AKKO pipeline that must pass. One
subprocess (guardrails/runner.py) for all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, copy_project

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent / "guardrails"

# fixture file -> (rule, line) its import error and check_dag_file must name
EXPECTED = {
    "bash_operator.py": ("bash-operator", 13),
    "no_owner.py": ("dag-owner", 5),
    "no_team.py": ("dag-team", 5),
    "parse_io.py": ("parse-io", 8),
    "parse_time.py": ("parse-time", 1),
    "iceberg_outlet.py": ("iceberg-outlet", 13),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = copy_project(tmp_path_factory.mktemp("guardrails") / "project", teams=True)
    (
        root / "pipelines" / "banking_fraud_demo.yaml"
    ).unlink()  # its dbt graph needs a dbt run: not this test's
    shutil.copytree(HERE / "dags", root / "dags")
    for example in (REPO / "dags").glob("*.py"):  # the repo's own hand-written examples must pass too
        shutil.copy(example, root / "dags" / example.name)
    config = yaml.safe_load((root / "akko.yaml").read_text())
    config["guardrails"] = {"max_parse_seconds": 1, "xcom_max_bytes": "100B"}
    (root / "akko.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKKO_", "AIRFLOW"))}
    env.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"), PYTHONPATH=str(REPO))
    out = root / "outcome.json"
    subprocess.run(
        [sys.executable, str(HERE / "runner.py"), str(out)],
        env=env,
        check=True,
        cwd=root,
        capture_output=True,
    )
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_rule_refuses_its_file_at_its_line(outcome: dict[str, Any], name: str) -> None:
    rule, line = EXPECTED[name]
    error = outcome["import_errors"][name]  # Airflow's import error: the file does not load
    assert error.startswith("AirflowClusterPolicyViolation: ")
    assert f"dags/{name}:{line}: [{rule}] " in error
    found = [(v["file"], v["line"], v["rule"]) for v in outcome["checks"][name]]  # check_dag_file
    assert (f"dags/{name}", line, rule) in found


def test_mapped_and_decorated_bash_operators_are_refused_too(outcome: dict[str, Any]) -> None:
    found = [(v["line"], v["rule"], v["message"]) for v in outcome["checks"]["bash_operator.py"]]
    assert (14, "bash-operator", "task 'shells' is a BashOperator (shell commands)") in found
    assert (16, "bash-operator", "task 'decorated' is a _BashDecoratedOperator (shell commands)") in found
    assert (
        "dags/bash_operator.py:14: [bash-operator] task 'shells'"
        in outcome["import_errors"]["bash_operator.py"]
    )


def test_a_file_that_does_not_import_is_an_import_error_at_its_line(outcome: dict[str, Any]) -> None:
    assert "a typo in the DAG file" in outcome["import_errors"]["broken.py"]
    [violation] = outcome["checks"]["broken.py"]
    assert (violation["file"], violation["line"], violation["rule"]) == ("dags/broken.py", 7, "import-error")
    assert violation["message"] == "RuntimeError: a typo in the DAG file"


def test_demo_pipelines_and_clean_dags_pass(outcome: dict[str, Any]) -> None:
    examples = sorted(p.name for p in (REPO / "dags").glob("*.py"))
    clean = ["good.py", "run_time.py", "uses_helper.py", "guard_helpers.py", *examples]
    assert examples and all(outcome["checks"][name] == [] for name in clean)
    assert {
        "guard_good",
        "guard_uses_helper",  # imports guard_helpers.py beside it by its plain name
        "guard_run_time",
        "sales_watch",
        "akko_e2e_pipeline",
        "sales_by_region_mart",
    } <= set(outcome["dags"])
    shim_errors = {k: v for k, v in outcome["import_errors"].items() if k not in {*EXPECTED, "broken.py"}}
    assert shim_errors == {}


def test_run_time_rules_fail_the_tasks(outcome: dict[str, Any]) -> None:
    run = outcome["run"]
    append, big = run["tasks"]["append_sales"], run["tasks"]["big_result"]
    assert append["state"] == "failed"
    iceberg = "dags/run_time.py:8: [iceberg-write] task 'append_sales' changes Iceberg table demo.guarded"
    assert iceberg in append["error"]
    assert run["snapshot_after"] == run["snapshot_before"]  # the table is as it was
    assert big["state"] == "failed" and big["result"] is None
    xcom = "dags/run_time.py:19: [xcom-size] task 'guard_run_time.big_result' pushed 5002 bytes to XCom"
    assert f"{xcom} 'return_value' (limit 100 bytes)" in big["error"]


def test_akkos_own_pipeline_runs_under_the_guardrails(outcome: dict[str, Any]) -> None:
    run = outcome["akko_run"]
    assert run["state"] == "success" and run["errors"] == []
    sizes = {task: len(json.dumps(result)) for task, result in run["results"].items()}
    assert max(sizes.values()) > 100  # over this project's xcom_max_bytes: AKKO's own XComs are exempt
