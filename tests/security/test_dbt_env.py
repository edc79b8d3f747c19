"""dbt's environment (issue 21, class 5): a model's `env_var()` reaches only what its team may use.

The process running AKKO holds every team's secrets (a worker's `AIRFLOW_CONN_*`). With a planted Airflow
connection of banking's (its password a marker) and a banking token in that environment, real dbt runs of the
`demo` team's project (tests/fixtures/dbt_sandbox.py; akko.yaml gives demo `env_vars: [DEMO_*]`) prove:

- an allow-listed variable works, at parse and at compile time; AKKO's and other teams' variables, and what
  starts Python (HOME), are not there: env_var() with a default answers the default, in the model's table;
- without a default, the model fails with dbt's "Env var required but not provided" naming the variable, and AKKO
  names the setting (teams.demo.env_vars), located at the model's file at validate time, in the compile task's
  error at run time;
- through a real `akko run` (Airflow, its task logs, lineage events, dbt's target/ and logs): the planted secret is
  in no file of the project or its state, after a successful and after a failing run;
- akko.yaml refuses an allow-list that would pass AKKO's own variables (`*`, `AIRFLOW_*`, `AKKO_*`, `DBT_*`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from akko_orchestrator.config.models import TeamSettings
from tests.fixtures.dbt_sandbox import files_holding, make_lakehouse, make_probe_project

MARKER = "PLANTED-7f3a9c"
CONNECTION = f"postgres://banking:{MARKER}@operational:5432/bank"
PLANTED = {"AIRFLOW_CONN_AKKO_OPERATIONAL": CONNECTION, "BANKING_API_TOKEN": f"{MARKER}-token"}
READS = """\
select
  '{{ env_var("DEMO_REGION") }}' as region,
  '{{ env_var("AIRFLOW_CONN_AKKO_OPERATIONAL", "unset") }}' as connection,
  '{{ env_var("BANKING_API_TOKEN", "unset") }}' as token,
  '{{ env_var("HOME", "unset") }}' as home,
  '{% if execute %}{{ env_var("DEMO_REGION") }}{% endif %}' as region_at_compile,
  count(*) as orders
from {{ source('demo', 'orders') }}
"""


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**PLANTED, "DEMO_REGION": "eu-west"}.items():
        monkeypatch.setenv(name, value)


def test_env_var_reads_only_the_teams_variables(tmp_path: Path, planted: None) -> None:
    from akko_orchestrator.testing import run_pipeline

    root, lakehouse = tmp_path / "project", tmp_path / "lakehouse"
    make_probe_project(root, {"reads": READS})
    make_lakehouse(root, lakehouse)
    result = run_pipeline("probe", project=root, lakehouse=lakehouse)
    assert result.ok, [(t.task_id, t.error) for t in result.tasks]
    rows = result.catalog.load_table("demo.reads").scan().to_arrow().to_pylist()
    assert rows == [
        {
            "region": "eu-west",
            "connection": "unset",
            "token": "unset",
            "home": "unset",
            "region_at_compile": "eu-west",
            "orders": 2,
        }
    ]
    assert files_holding(tmp_path, MARKER) == []  # target/, dbt's logs, the tables, the staged SQL


def test_a_variable_outside_the_allow_list_fails_located_at_validate(tmp_path: Path, planted: None) -> None:
    from akko_orchestrator.spec.validate import validate_path

    root = tmp_path / "project"
    model = "select '{{ env_var(\"AIRFLOW_CONN_AKKO_OPERATIONAL\") }}' as connection\n"
    make_probe_project(root, {"leak": model})
    report = validate_path(root / "pipelines", root)
    assert len(report.issues) == 1, report.issues
    issue = report.issues[0]
    assert issue.file.endswith("models/leak.sql"), issue
    assert "Env var required but not provided: 'AIRFLOW_CONN_AKKO_OPERATIONAL'" in issue.reason
    assert "teams.demo.env_vars" in issue.reason and "DEMO_*" in issue.reason
    assert MARKER not in issue.format()
    assert files_holding(tmp_path, MARKER) == []


def test_a_variable_outside_the_allow_list_fails_the_compile_task(tmp_path: Path, planted: None) -> None:
    from akko_orchestrator.testing import run_pipeline

    root, lakehouse = tmp_path / "project", tmp_path / "lakehouse"
    model = "select '{% if execute %}{{ env_var(\"BANKING_API_TOKEN\") }}{% endif %}' as token\n"
    make_probe_project(root, {"leak": model})
    make_lakehouse(root, lakehouse)
    result = run_pipeline("probe", project=root, lakehouse=lakehouse)
    compile_task = next(t for t in result.tasks if t.task_id == "probe.compile")
    message = str(compile_task.error)
    assert compile_task.state == "failed" and "model leak (models/leak.sql)" in message, message
    assert "Env var required but not provided: 'BANKING_API_TOKEN'" in message
    assert "teams.demo.env_vars" in message and MARKER not in message
    assert files_holding(tmp_path, MARKER) == []


@pytest.mark.e2e
def test_akko_run_leaves_no_planted_secret_in_any_state(tmp_path: Path) -> None:
    """A real `akko run` (Airflow in a fresh interpreter, as tests/e2e run pipelines) whose environment holds
    banking's connection: the demo model's table, Airflow's task logs, the lineage events, dbt's target/ and logs
    hold no trace of it, after a run that reads an allowed variable and after one that asks for the secret."""
    from akko_orchestrator.dbt.sync import refresh_graphs
    from tests.fixtures import airflow_runner
    from tests.fixtures.cli import cli_env

    root = tmp_path / "project"
    make_probe_project(root, {"reads": READS})
    make_lakehouse(root, root / ".akko")
    env = cli_env(root, root / ".akko", DEMO_REGION="eu-west", **PLANTED)

    def akko_run(report: Path) -> dict:
        refresh_graphs([root / "pipelines" / "probe.yaml"])  # `akko sync` before the DAG is parsed
        done = subprocess.run(
            [sys.executable, airflow_runner.__file__, "probe", str(report)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert report.is_file(), (done.stdout + done.stderr)[-4000:]
        return json.loads(report.read_text())

    ran = akko_run(tmp_path / "ok.json")
    assert ran["state"] == "success", ran
    (root / "pipelines" / "probe" / "models" / "leak.sql").write_text(
        "select '{% if execute %}{{ env_var(\"AIRFLOW_CONN_AKKO_OPERATIONAL\") }}{% endif %}' as c\n"
    )
    failed = akko_run(tmp_path / "failed.json")
    assert failed["state"] == "failed", failed
    assert any(list((root / ".akko").rglob("*.log"))), "the runs wrote task logs"
    assert files_holding(tmp_path, MARKER) == []


@pytest.mark.parametrize(
    "pattern", ["*", "A*", "AIRFLOW_CONN_*", "AIRFLOW__CORE__FERNET_KEY", "AKKO_*", "DBT_*", ""]
)
def test_an_allow_list_cannot_pass_akkos_own_variables(pattern: str) -> None:
    with pytest.raises(ValidationError, match="AKKO's own variables|empty variable name"):
        TeamSettings(namespaces=["demo"], env_vars=[pattern])
    assert TeamSettings(namespaces=["demo"], env_vars=["DEMO_*", "SALES_REGION"]).env_vars == [
        "DEMO_*",
        "SALES_REGION",
    ]
