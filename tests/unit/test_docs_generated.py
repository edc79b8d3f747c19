"""Generated docs stay generated, examples stay valid, and docs/architecture.md stays a true map of the code."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema  # installed with Airflow (apache-airflow-core depends on it)
import pytest
import yaml

from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.spec import reference, reference_text
from akko_orchestrator.spec.loader import load_spec
from akko_orchestrator.spec.scaffold import scaffold
from akko_orchestrator.spec.schema import json_schema
from akko_orchestrator.spec.yaml_source import SpecLoader

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "akko_orchestrator"
FIXTURES = REPO / "tests" / "fixtures"
ARCHITECTURE = REPO / "docs" / "architecture.md"
EXAMPLES = sorted((REPO / "pipelines").glob("*.yaml"))
GOOD_FIXTURES = sorted((FIXTURES / "good_specs").glob("*.yaml"))


@pytest.mark.parametrize("relative", sorted(reference.generated_files(), key=str), ids=str)
def test_generated_file_is_committed_and_up_to_date(relative: Path) -> None:
    path = REPO / relative
    how = f"run `{reference.REGENERATE}` from the repository root and commit the result"
    assert path.is_file(), f"{relative} is missing: {how}"
    assert path.read_text(encoding="utf-8") == reference.generated_files()[relative], (
        f"{relative} is out of date with src/akko_orchestrator/spec/models.py: {how}"
    )


def test_the_generator_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert reference.main(["--check", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert reference.main([str(tmp_path)]) == 0
    assert reference.main(["--check", str(tmp_path)]) == 0
    for relative, text in reference.generated_files().items():
        assert (tmp_path / relative).read_text(encoding="utf-8") == text


def test_generation_is_deterministic() -> None:
    assert reference.generated_files() == reference.generated_files()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_json(text: str) -> Any:
    """A spec as an editor's JSON Schema tooling sees it: YAML 1.2 scalars, dates as strings."""
    return json.loads(json.dumps(yaml.load(text, Loader=SpecLoader), default=str))  # noqa: S506 - safe loader


def schema_errors(validator: jsonschema.Draft202012Validator, text: str) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(as_json(text))
    ]


@pytest.mark.parametrize("spec", EXAMPLES + GOOD_FIXTURES, ids=lambda p: p.name)
def test_example_validates_against_the_json_schema(
    spec: Path, validator: jsonschema.Draft202012Validator
) -> None:
    assert schema_errors(validator, spec.read_text(encoding="utf-8")) == []


def test_there_are_examples() -> None:
    assert EXAMPLES, "pipelines/ has no example spec"


@pytest.mark.parametrize("name", sorted(reference_text.EXAMPLES))
def test_reference_example_validates(
    name: str, tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    text = reference.example_pipeline(reference_text.EXAMPLES[name])
    assert schema_errors(validator, text) == []
    spec = tmp_path / "example.yaml"
    spec.write_text(text)
    shutil.copytree(REPO / "pipelines" / "transforms", tmp_path / "transforms")  # the Spark example's script
    (tmp_path / "pipelines").mkdir()  # the python example's module, on the default python_path
    shutil.copy(REPO / "pipelines" / "demo_functions.py", tmp_path / "pipelines")
    (tmp_path / "data" / "orders").mkdir(parents=True)  # the files the fan-out example reads
    (tmp_path / "data" / "orders" / "2024-01-01.json").write_text('[{"order_id": 1}]\n')
    pipeline, source = load_spec(spec)
    build_plan(pipeline, source)


def test_scaffold_validates_against_the_json_schema(validator: jsonschema.Draft202012Validator) -> None:
    assert schema_errors(validator, scaffold("daily_orders", "shop", "data-engineering")) == []


@pytest.mark.parametrize(
    "case",
    [
        "unknown_top_field",
        "unknown_step_field",
        "unknown_step_kind",
        "missing_required_field",
        "bad_duration",
    ],
)
def test_json_schema_rejects_what_the_models_reject(
    case: str, validator: jsonschema.Draft202012Validator
) -> None:
    """Editors flag the same mistakes `akko validate` does (for what a schema can express)."""
    [spec] = (FIXTURES / "bad_specs" / case).glob("*.yaml")
    assert schema_errors(validator, spec.read_text(encoding="utf-8"))


def package_modules() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_architecture_mentions_every_module() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [m for m in package_modules() if f"`{m}`" not in text]
    assert not missing, f"docs/architecture.md does not describe {missing}: add one line per module"


def test_architecture_mentions_only_existing_modules() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", text))
    stale = sorted(mentioned - set(package_modules()))
    assert not stale, f"docs/architecture.md describes modules that do not exist: {stale}"


FORBIDDEN_IN_SPEC_AND_PLAN = (
    "airflow",
    "duckdb",
    "pyiceberg",
    "akko_orchestrator.engines",
    "akko_orchestrator.lakehouse",
    "akko_orchestrator.runtime",
    "akko_orchestrator.operators",
    "akko_orchestrator.compiler",
    "akko_orchestrator.local_airflow",
)


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize(
    "module",
    sorted((PACKAGE / "spec").glob("*.py")) + sorted((PACKAGE / "plan").glob("*.py")),
    ids=lambda p: p.name,
)
def test_spec_and_plan_import_neither_airflow_nor_engines(module: Path) -> None:
    """The rule docs/architecture.md states: spec and plan run without Airflow, engines or the lakehouse."""
    bad = [
        name
        for name in imported_modules(module)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_SPEC_AND_PLAN)
    ]
    assert not bad, f"{module.relative_to(REPO)} imports {bad}"
