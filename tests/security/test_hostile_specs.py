"""Hostile and broken specs (issue 21, class 10): a YAML alias bomb, a Latin-1 file, an impossible date, SQL nested
or sized past what the parser survives, a broken akko.yaml... Each case is a folder under
fixtures/hostile_specs/<case>/: the file(s) (or a `build.py` writing those too big to commit) and `expected.txt`,
the exact located lines `akko validate` prints (`{project}` stands for the project folder).

Every case is judged beside a valid spec, through `akko validate` (in process, and once as a real process) and
through the DAG parse path (the shims `akko sync` writes, loaded by Airflow's DagBag): the problem is reported at
file:line:column, the valid pipeline stays valid and its DAG loads, the exit code is 1, and no traceback shows.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.compiler.shims import shim_name, sync_shims

FIXTURES = Path(__file__).parent / "fixtures" / "hostile_specs"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
SPEC_CASES = [case for case in CASES if not (FIXTURES / case / "akko.yaml").exists()]
PROJECT_CASES = [case for case in CASES if (FIXTURES / case / "akko.yaml").exists()]
AKKO_YAML = (
    "lakehouse: akko\nteams:\n  demo:\n    namespaces: [demo]\nprofiles:\n  local:\n    engine: embedded\n"
)
LOCATED = re.compile(r"[\w./{}-]+\.(yaml|sql):\d+:\d+: ")
GOOD = (
    "pipeline: good\nowner: me\nteam: demo\nsteps:\n  - id: a\n    kind: sql\n    sql: SELECT 1 AS x\n"
    "    output: {table: demo.good}\n"
)


def make_project(case: Path, target: Path, folder: str = "pipelines") -> Path:
    """A project holding the valid spec `pipelines/good.yaml` and the case's files (in `folder`); the case's
    akko.yaml replaces the project's."""
    (target / "pipelines").mkdir(parents=True, exist_ok=True)
    (target / "pipelines" / "good.yaml").write_text(GOOD)
    (target / "akko.yaml").write_text(AKKO_YAML)
    into = target / folder
    into.mkdir(parents=True, exist_ok=True)
    for file in case.iterdir():
        if not file.is_file():  # e.g. the __pycache__ that loading build.py leaves beside it
            continue
        if file.name == "akko.yaml":
            shutil.copy(file, target / "akko.yaml")
        elif file.name not in ("expected.txt", "build.py"):
            shutil.copy(file, into / file.name)
    if (case / "build.py").exists():
        spec = importlib.util.spec_from_file_location(f"build_{case.name}", case / "build.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build(into)
    return target


def expected(case: str, folder: str = "pipelines") -> list[str]:
    lines = (FIXTURES / case / "expected.txt").read_text().splitlines()
    return [line.replace("pipelines/", f"{folder}/", 1) for line in lines]


def problems(output: str, project: Path) -> list[str]:
    """The problem lines of `akko validate`'s output (without the `error ` tag), the project folder as
    `{project}`."""
    lines = output.replace(str(project), "{project}").splitlines()
    return [
        line.removeprefix("error ")
        for line in lines
        if not line.startswith("valid ") and "valid." not in line
    ]


def test_every_case_has_its_expected_lines() -> None:
    assert len(CASES) >= 20
    for case in CASES:
        assert (FIXTURES / case / "expected.txt").read_text().strip(), case


@pytest.mark.parametrize("case", CASES)
def test_validate_locates_the_problem_and_judges_the_others(case: str, tmp_path: Path) -> None:
    project = make_project(FIXTURES / case, tmp_path)
    result = CliRunner().invoke(app, ["--project", str(project), "validate"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert problems(result.output, project) == expected(case)
    assert any(LOCATED.search(line) for line in expected(case)), "no line at file:line:column"
    if case in SPEC_CASES:
        assert "valid pipelines/good.yaml" in result.output


def test_one_akko_process_judges_every_case_with_no_traceback(tmp_path: Path) -> None:
    """The real `akko` entry point, all cases in one project: every problem located, the valid spec valid."""
    for case in SPEC_CASES:
        make_project(FIXTURES / case, tmp_path, f"pipelines/{case}")
    run = subprocess.run(
        [sys.executable, "-m", "akko_orchestrator.cli.main", "--project", str(tmp_path), "validate"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    printed = problems(run.stderr, tmp_path)
    for case in SPEC_CASES:
        for line in expected(case, f"pipelines/{case}"):
            assert line in printed, case
    assert "valid pipelines/good.yaml" in run.stdout
    assert f"1 of {len(SPEC_CASES) + 1} spec file(s) valid." in run.stdout


@pytest.fixture(scope="module")
def dag_bag(tmp_path_factory: pytest.TempPathFactory):  # -> tuple[DagBag, Path, Path]
    """Every spec case in one project, its shims written as `akko sync` does, parsed by Airflow's DagBag."""
    from airflow.dag_processing.dagbag import DagBag

    project = tmp_path_factory.mktemp("hostile")
    for case in SPEC_CASES:
        make_project(FIXTURES / case, project, f"pipelines/{case}")
    dags = project / "dags"
    sync_shims(project / "pipelines", dags, project, dbt_graphs=False)
    return DagBag(dag_folder=str(dags), safe_mode=True), project, dags


@pytest.mark.parametrize("case", SPEC_CASES)
def test_dag_parse_shows_the_same_located_error(case: str, dag_bag) -> None:  # noqa: ANN001 - fixture
    bag, project, dags = dag_bag
    specs = sorted((project / "pipelines" / case).glob("*.yaml"))
    errors = {shim_name(spec, project / "pipelines") for spec in specs}
    assert len(errors) == 1
    message = bag.import_errors[str(dags / errors.pop())]
    for line in expected(case, f"pipelines/{case}"):
        assert line in message
    assert "PID" not in message and "timeout" not in message.lower()


def test_dag_parse_loads_the_valid_pipeline_beside_every_case(dag_bag) -> None:  # noqa: ANN001 - fixture
    bag, project, dags = dag_bag
    assert list(bag.dags) == ["good"]
    assert len(bag.import_errors) == len(SPEC_CASES)


# akko.yaml itself broken at the YAML level (encoding, syntax, budgets): every DAG's import error, located there.
YAML_LEVEL = [case for case in PROJECT_CASES if "invalid configuration" not in expected(case)[0]]


@pytest.mark.parametrize("case", YAML_LEVEL)
def test_a_broken_akko_yaml_is_every_dags_located_import_error(case: str, tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    project = make_project(FIXTURES / case, tmp_path)
    (project / "akko.yaml").write_text(AKKO_YAML)  # the shims were written; then akko.yaml broke
    sync_shims(project / "pipelines", project / "dags", project, dbt_graphs=False)
    shutil.copy(FIXTURES / case / "akko.yaml", project / "akko.yaml")
    bag = DagBag(dag_folder=str(project / "dags"), safe_mode=True)
    assert bag.dags == {}
    message = bag.import_errors[str(project / "dags" / "good.py")]
    located = expected(case)[0].removeprefix("Error: ").replace("{project}", str(project))
    assert located in message
