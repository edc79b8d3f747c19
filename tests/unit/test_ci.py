"""`akko ci`'s parts that need no Airflow process: spec and schema steps, where an import error is located, the
hand-written DAG folders; and akko.testing's tasks against the compiled DAG's."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

from akko_orchestrator.ci.dags import _import_problem, hand_written_folders
from akko_orchestrator.ci.specs import schema_step, validate_step
from akko_orchestrator.config.project import load_project
from akko_orchestrator.spec.scaffold import scaffold
from akko_orchestrator.spec.schema import json_schema
from akko_orchestrator.spec.validate import ValidationReport

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / "akko.yaml").write_text("project: t\nprofiles:\n  local: {engine: embedded}\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "good.yaml").write_text(scaffold("good", "analytics", "de"))
    return load_project(tmp_path, "local")


def test_spec_problems_are_located_and_a_stale_committed_schema_is_named(project) -> None:
    bad = project.root / "pipelines" / "bad.yaml"
    bad.write_text(scaffold("bad", "analytics", "de").replace("schedule: manual", "schedul: manual"))
    (project.root / "schemas").mkdir()
    stale = {**json_schema(), "title": "an older AKKO's schema"}
    (project.root / "schemas" / "pipeline.schema.json").write_text(json.dumps(stale))

    outcome, problems, report = validate_step(project)
    assert outcome.status == "failed" and outcome.detail == "1 of 2 spec(s) valid"
    assert [(p.file, p.step) for p in problems] == [("pipelines/bad.yaml", "validate")]
    assert (
        problems[0]
        .format()
        .startswith(
            "pipelines/bad.yaml:7:1: [validate/spec] schedul: unknown field (did you mean `schedule`?)"
        )
    )

    outcome, problems = schema_step(project, report)
    assert [p.format() for p in problems] == [
        "schemas/pipeline.schema.json:1:1: [schema/stale] differs from this AKKO's spec schema; "
        "regenerate it: akko schema --output schemas/pipeline.schema.json"
    ]
    (project.root / "schemas" / "pipeline.schema.json").write_text(json.dumps(json_schema()))
    assert schema_step(project, report)[1] == []


def test_the_repo_commits_a_current_schema() -> None:
    outcome, problems = schema_step(load_project(REPO, "local"), ValidationReport())
    assert (outcome.detail, problems) == ("0 spec(s), 1 committed schema file(s)", [])


def _traceback_of(file: Path) -> str:
    try:
        exec(compile(file.read_text(), str(file), "exec"), {})
    except Exception:  # noqa: BLE001
        return traceback.format_exc()
    raise AssertionError("the file should fail")


def test_an_import_error_is_located_at_its_line(tmp_path: Path) -> None:
    dag = tmp_path / "dags" / "mine.py"
    dag.parent.mkdir()
    dag.write_text("import os\n\nvalue = os.environ['NOPE_NOT_SET']\n")
    problem = _import_problem(tmp_path, "dags/mine.py", str(dag), _traceback_of(dag))
    assert problem.format() == "dags/mine.py:3:1: [dags/import] KeyError: 'NOPE_NOT_SET'"

    helper = tmp_path / "dags" / "helpers.py"  # the failing line is in a module the DAG file imports
    helper.write_text("def boom():\n    raise ValueError('no config')\n\n\nboom()\n")
    message = _traceback_of(helper).replace("Traceback (most recent call last):\n", "")
    problem = _import_problem(tmp_path, "dags/other.py", str(tmp_path / "dags" / "other.py"), message)
    assert (problem.file, problem.line) == ("dags/helpers.py", 2)


def test_a_policy_refusal_is_located_at_the_task_it_names(tmp_path: Path) -> None:
    dag = tmp_path / "dag.py"
    dag.write_text(
        'with DAG("nightly"):\n    a = EmptyOperator(task_id="ok")\n    b = BashOperator(task_id="run_it")\n'
    )
    message = "AirflowClusterPolicyViolation: task run_it of nightly: BashOperator is refused"
    problem = _import_problem(tmp_path, "dag.py", str(dag), message)
    assert (problem.line, problem.column, problem.rule) == (3, 31, "policy")
    problem = _import_problem(
        tmp_path, "dag.py", str(dag), "AirflowClusterPolicyError: DAG nightly has no owner"
    )
    assert (problem.line, problem.column) == (1, 11)


def test_a_spec_error_of_a_shim_is_reported_at_the_spec(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text("pipeline: p\n")
    message = "Traceback...\nakko_orchestrator.errors.SpecError: pipelines/p.yaml:1:11: pipeline: too short\n"
    problem = _import_problem(tmp_path, "pipelines/p.yaml", str(tmp_path / ".akko/dags/p.py"), message)
    assert problem.format() == "pipelines/p.yaml:1:11: [dags/import] pipeline: too short"


def test_hand_written_dags_are_in_dags_not_in_the_shim_folder(project) -> None:
    assert hand_written_folders(project) == []
    (project.root / "dags").mkdir()
    assert hand_written_folders(project) == [project.root / "dags"]


def test_akko_testing_runs_the_tasks_of_the_compiled_dag() -> None:
    from akko_orchestrator.compiler.dag_builder import build_dag
    from akko_orchestrator.compiler.entry import compile_plan
    from akko_orchestrator.testing.tasks import plan_tasks

    for name in ("akko_e2e_pipeline",):  # a fanned-out ingest, python and sql steps
        spec = REPO / "pipelines" / f"{name}.yaml"
        plan = compile_plan(spec, REPO, profile="local")
        dag = build_dag(plan, str(spec), "akko")
        tasks = plan_tasks(plan, spec)
        assert sorted(t.task_id for t in tasks) == sorted(dag.task_ids)
        for task in tasks:
            assert set(task.upstream) == dag.get_task(task.task_id).upstream_task_ids, task.task_id


def test_the_cli_prints_one_line_per_problem_then_the_steps_and_exits_1(project) -> None:
    from typer.testing import CliRunner

    from akko_orchestrator.cli.main import app

    (project.root / "pipelines" / "bad.yaml").write_text(
        scaffold("bad", "analytics", "de").replace("owner:", "ownr:")
    )
    args = ["--project", str(project.root), "ci", "--skip", "dags", "--skip", "tests", "--github"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 1, result.output
    annotations = [line for line in result.output.splitlines() if line.startswith("::")]
    lines = [line for line in result.output.splitlines() if not line.startswith("::")]
    assert (
        lines[0]
        == "pipelines/bad.yaml:2:1: [validate/spec] owner: required field is missing (add `owner:` at the top level)"
    )
    assert lines[1].startswith("pipelines/bad.yaml:4:1: [validate/spec] ownr: unknown field (did you mean")
    assert annotations[1].startswith(
        "::error file=pipelines/bad.yaml,line=4,col=1,title=validate/spec::ownr:"
    )
    assert [line.split()[:2] for line in lines[-5:-1]] == [
        ["validate", "failed"],
        ["schema", "ok"],
        ["dags", "skipped"],
        ["tests", "skipped"],
    ]
    assert lines[-1].startswith("akko ci: 2 problem(s) (validate 2)")
    assert CliRunner().invoke(app, ["--project", str(project.root), "ci", "--skip", "nope"]).exit_code == 1


def test_a_dag_id_defined_twice_is_named_at_the_second_file() -> None:
    from akko_orchestrator.ci.dags import _duplicates

    owners: dict[str, str] = {}
    assert list(_duplicates("pipelines/sales.yaml", ["sales"], owners)) == []
    (problem,) = _duplicates("dags/sales_copy.py", ["sales", "other"], owners)
    assert problem.format() == (
        "dags/sales_copy.py:1:1: [dags/duplicate-id] dag_id 'sales' is also defined in pipelines/sales.yaml "
        "(a dag_id must be unique)"
    )
