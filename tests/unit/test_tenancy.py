"""Tenants (akko.yaml `teams`): every refusal located by `akko validate` and as the DAG's import error, the other
pipelines still valid; the same rules at run time, before any read, write or connection fetch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.config.tenancy import Tenancy, TenancyError
from akko_orchestrator.errors import ConfigError, SpecError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.ingest import ingest
from akko_orchestrator.runtime.transforms import run_python, run_sql
from akko_orchestrator.spec.models import IngestStep, Output, PythonStep, SqlStep
from akko_orchestrator.spec.validate import validate_path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "tenancy"

READ_DEMO = "add '{ns}' to teams.demo.reads in akko.yaml, or read a table of the team"
NOT_READ = "table {t} is in namespace '{ns}', which team 'demo' may not read (it reads: demo, marts, shared)"
NOT_WRITTEN = (
    "table {t} is in namespace '{ns}', which team 'demo' may not write (its namespaces: demo, marts)"
)
WRITE_DEMO = "write a namespace of the team, or add '{ns}' to teams.demo.namespaces in akko.yaml"
CONNECTION = "Airflow connection 'akko_operational' is not among the connections of team 'demo' (demo_*)"
CONNECTION_FIX = "use a connection of the team, or add it to teams.demo.connections in akko.yaml"


def _read(table: str) -> tuple[str, str]:
    ns = table.split(".")[0]
    return NOT_READ.format(t=table, ns=ns), READ_DEMO.format(ns=ns)


def _write(table: str) -> tuple[str, str]:
    ns = table.split(".")[0]
    return NOT_WRITTEN.format(t=table, ns=ns), WRITE_DEMO.format(ns=ns)


EXPECTED = [
    ("pipelines/cross_team_read.yaml", 6, 8, "schedule.on[0]", *_read("banking.transactions")),
    ("pipelines/cross_team_read.yaml", 12, 12, "steps[0].sql", *_read("banking.transactions")),
    ("pipelines/cross_team_read.yaml", 17, 45, "steps[0].checks[0].relationships.to", *_read("banking.regions")),
    ("pipelines/cross_team_read.yaml", 21, 30, "steps[1].inputs[1]", *_read("banking.accounts")),
    ("pipelines/other_team_connection.yaml", 9, 22, "steps[0].source.sql.conn_id", CONNECTION, CONNECTION_FIX),
    (
        "pipelines/other_team_connection.yaml", 16, 34, "steps[1].sources.accounts.jdbc.conn_id",
        CONNECTION, CONNECTION_FIX,
    ),
    (
        "pipelines/undeclared_team.yaml", 4, 7, "team", "team 'demos' is not declared in akko.yaml's `teams`",
        "did you mean 'demo'? (or declare 'demos' in akko.yaml)",
    ),
    ("pipelines/writes_other_team.yaml", 10, 14, "steps[0].output.table", *_write("banking.transactions")),
    ("pipelines/writes_other_team.yaml", 14, 21, "steps[1].output.table", *_write("scratch.orders")),
]  # fmt: skip


def test_every_refusal_is_located_and_the_other_pipelines_stay_valid() -> None:
    report = validate_path(FIXTURE / "pipelines", FIXTURE, table_exists=None)
    found = [(i.file, i.line, i.column, i.field, i.reason, i.suggestion) for i in report.issues]
    assert found == EXPECTED
    assert report.valid_files == ["pipelines/good.yaml"]


def test_airflow_import_error_is_the_same_refusal(tmp_path: Path) -> None:
    """Parse time reads akko.yaml's `teams` (no secret): a cached compile refuses the same way."""
    from akko_orchestrator.compiler.entry import compile_plan

    spec = FIXTURE / "pipelines" / "writes_other_team.yaml"
    for _ in range(2):  # the second compile comes from the shim's cache
        with pytest.raises(SpecError) as raised:
            compile_plan(spec, FIXTURE, cache_file=tmp_path / "cache.json")
        assert str(raised.value).splitlines()[0] == (
            "pipelines/writes_other_team.yaml:10:14: steps[0].output.table: "
            + " (".join(_write("banking.transactions"))
            + ")"
        )
    assert compile_plan(FIXTURE / "pipelines" / "good.yaml", FIXTURE, cache_file=tmp_path / "good.json").steps


def test_teams_edited_in_akko_yaml_apply_at_the_next_parse(tmp_path: Path) -> None:
    from akko_orchestrator.compiler.entry import compile_plan

    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    spec, cache = root / "pipelines" / "writes_other_team.yaml", tmp_path / "cache.json"
    with pytest.raises(SpecError):
        compile_plan(spec, root, cache_file=cache)
    text = (
        (root / "akko.yaml")
        .read_text()
        .replace("namespaces: [demo, marts]", "namespaces: [demo, banking, scratch]")
    )
    (root / "akko.yaml").write_text(text)
    assert compile_plan(spec, root, cache_file=cache).tables_written == (
        "banking.transactions",
        "scratch.orders",
    )


def test_without_teams_nothing_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    (root / "akko.yaml").write_text("project: no-teams\n")
    report = validate_path(root / "pipelines", root, table_exists=None)
    assert report.issues == []


def test_teams_are_validated_at_parse_time() -> None:
    with pytest.raises(ConfigError, match="teams.demo.namespaces"):
        Tenancy.from_raw({"demo": {"namespaces": []}})
    assert not Tenancy.from_raw(None).enabled


def test_connection_patterns() -> None:
    tenancy = Tenancy.from_raw({"demo": {"namespaces": ["demo"], "connections": ["demo_*", "shared_api"]}})
    assert tenancy.connection_refusal("demo", "demo_shop") is None
    assert tenancy.connection_refusal("demo", "shared_api") is None
    assert tenancy.connection_refusal("demo", "shared_api2") is not None
    assert tenancy.connection_refusal("demo", "akko_operational") is not None


# -- run time --------------------------------------------------------------------------------------------------


def _project(root: Path, **teams: dict) -> Project:
    project = load_project(root)
    if teams:
        config = project.config.model_copy(update={"teams": Tenancy.from_raw(teams).teams})
        project = Project(root=project.root, config=config, profile_name=project.profile_name)
    return project


def _ctx(project: Project, team: str | None, step: str = "s") -> StepContext:
    return StepContext(project, pipeline_id="p", step_id=step, run_id="run-1", team=team)


def _planned(step, reads: list[str] = ()) -> PlannedStep:  # type: ignore[assignment]
    output = getattr(step, "output", None)
    return PlannedStep(step=step, reads=tuple(reads), writes=output.table if output else None, upstream=())


ROWS = pa.table({"id": pa.array([1, 2], pa.int64())})


@pytest.fixture
def project(project_dir: Path) -> Project:
    """The demo project's teams (demo: demo, marts; banking: banking, akko_operational), demo also reading
    `shared`; banking.accounts and shared.rates exist."""
    project = _project(
        project_dir,
        demo={"namespaces": ["demo", "marts"], "reads": ["shared"], "connections": ["demo_*"]},
        banking={"namespaces": ["banking"], "connections": ["akko_operational"]},
    )
    platform = _ctx(project, None).catalog
    write_table(platform, Output(table="banking.accounts"), ROWS)
    write_table(platform, Output(table="shared.rates"), ROWS)
    return project


def _snapshot(project: Project, table: str) -> int | None:
    snapshot = _ctx(project, None).catalog.load_table(table).current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def test_the_repository_akko_yaml_declares_the_demo_teams() -> None:
    teams = load_project(REPO).config.teams
    assert teams["demo"].namespaces == ["demo", "marts"]
    assert teams["banking"].namespaces == ["banking"] and teams["banking"].connections == ["akko_operational"]


def test_a_steps_catalog_refuses_another_teams_tables_before_any_change(project: Project) -> None:
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField

    demo = _ctx(project, "demo", "sneak")
    assert isinstance(demo.catalog, type(demo.platform_catalog))  # pyiceberg sees its own catalog class
    before = _snapshot(project, "banking.accounts"), _snapshot(project, "shared.rates")
    with pytest.raises(
        TenancyError, match="step 'sneak' of team 'demo': table banking.accounts .* may not read"
    ):
        demo.catalog.load_table("banking.accounts")
    with pytest.raises(TenancyError, match="may not write"):
        write_table(demo.catalog, Output(table="banking.accounts"), ROWS)
    with pytest.raises(TenancyError, match="may not write"):
        demo.catalog.create_table("banking.new", schema=Schema(NestedField(1, "id", LongType())))
    with pytest.raises(TenancyError, match="may not write"):
        demo.catalog.drop_table("banking.accounts")
    rates = demo.catalog.load_table("shared.rates")  # readable ...
    assert rates.scan().to_arrow().num_rows == 2
    with pytest.raises(
        TenancyError, match="table shared.rates is in namespace 'shared', which team 'demo' may not"
    ):
        rates.append(ROWS)  # ... not writable: refused at the commit
    assert (_snapshot(project, "banking.accounts"), _snapshot(project, "shared.rates")) == before
    assert not _ctx(project, None).catalog.table_exists("banking.new")
    assert write_table(demo.catalog, Output(table="demo.mine"), ROWS).rows == 2  # its own namespace


def test_python_step_writing_another_team_fails_before_the_table_changes(project: Project) -> None:
    (project.root / "pipelines" / "tenant_helpers.py").write_text(
        "def rows(rates):\n    return rates\n"
        "def sneak(ctx, rates):\n    ctx.catalog.load_table('shared.rates').append(rates)\n"
    )
    before = _snapshot(project, "shared.rates")
    own = PythonStep(id="s", kind="python", function="tenant_helpers:rows", inputs=["shared.rates"])
    with pytest.raises(TenancyError, match="may not write"):
        run_python(
            _ctx(project, "demo"), _planned(own.model_copy(update={"output": Output(table="shared.copy")}))
        )
    sneak = PythonStep(id="s", kind="python", function="tenant_helpers:sneak", inputs=["shared.rates"])
    with pytest.raises(
        TenancyError, match=r"step 's': table shared.rates \(read-only\).append refused; a step's code reads"
    ):
        run_python(_ctx(project, "demo"), _planned(sneak, ["shared.rates"]))
    assert _snapshot(project, "shared.rates") == before
    assert not _ctx(project, None).catalog.table_exists("shared.copy")


def test_sql_changed_after_parsing_is_refused_before_it_runs(project: Project) -> None:
    step = SqlStep(id="s", kind="sql", sql="SELECT 1 AS id", output=Output(table="demo.out"))
    with pytest.raises(TenancyError, match="banking.accounts .* may not read"):
        run_sql(_ctx(project, "demo"), _planned(step), {"sql": "SELECT id FROM banking.accounts"})
    assert not _ctx(project, None).catalog.table_exists("demo.out")


def test_check_step_refuses_a_plan_outside_the_team(project: Project) -> None:
    step = SqlStep(id="s", kind="sql", sql="SELECT 1 AS id", output=Output(table="banking.out"))
    with pytest.raises(TenancyError, match="banking.out .* may not write"):
        _ctx(project, "demo").check_step(_planned(step))
    with pytest.raises(TenancyError, match="banking.accounts .* may not read"):
        _ctx(project, "demo").check_step(
            _planned(step.model_copy(update={"output": None}), ["banking.accounts"])
        )
    _ctx(project, "banking").check_step(_planned(step, ["banking.accounts"]))


def test_a_step_fetches_only_its_teams_connections(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AKKO_OPERATIONAL", "postgres://akko:s3cr3t-pw@127.0.0.1:1/operational")
    demo = _ctx(project, "demo", "replicate")
    with pytest.raises(TenancyError) as refused:
        demo.connection("akko_operational")
    assert str(refused.value) == (
        "step 'replicate' of team 'demo': Airflow connection 'akko_operational' is not among the connections of "
        "team 'demo' (demo_*); refused (use a connection of the team, or add it to teams.demo.connections in "
        "akko.yaml)"
    )
    step = IngestStep.model_validate(
        {
            "id": "replicate",
            "kind": "ingest",
            "source": {"sql": {"conn_id": "akko_operational", "query": "SELECT * FROM akko.raw_customers"}},
            "output": {"table": "demo.customers"},
        }
    )
    with pytest.raises(TenancyError, match="akko_operational") as refused:
        ingest(demo, step)
    assert "s3cr3t" not in str(refused.value)
    assert demo.lineage.sql_sources == []  # refused before anything was recorded or fetched
    assert not _ctx(project, None).catalog.table_exists("demo.customers")
    assert _ctx(project, "banking").connection("akko_operational").host == "127.0.0.1"


def test_without_teams_a_step_is_not_guarded(project_dir: Path) -> None:
    project = load_project(project_dir)
    project = Project(project.root, project.config.model_copy(update={"teams": {}}), project.profile_name)
    ctx = _ctx(project, "anyone")
    assert ctx.guard is None and ctx.catalog is ctx.platform_catalog
    write_table(ctx.catalog, Output(table="anywhere.t"), ROWS)


def test_dbt_models_namespaces_and_sources_are_located(tmp_path: Path) -> None:
    """A model in the target schema outside the team: at the step's `namespace`; a model with its own schema and a
    source of another team: in the model's file, at `schema` and at the table's name."""
    from akko_orchestrator.dbt.graph import DbtGraph, DbtNode
    from akko_orchestrator.plan.builder import build_plan
    from akko_orchestrator.plan.dbt_steps import DbtLookup
    from akko_orchestrator.spec.loader import load_spec

    models = tmp_path / "dbt" / "models"
    models.mkdir(parents=True)
    (models / "stg.sql").write_text("select * from {{ source('banking', 'accounts') }}\n")
    (models / "mart.sql").write_text(
        "{{ config(\n    schema='banking'\n) }}\nselect * from {{ ref('stg') }}\n"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "pipeline: p\nowner: o\nteam: demo\nsteps:\n  - id: build\n    kind: dbt\n    project: dbt\n"
        "    namespace: staging\n"
    )
    nodes = (
        DbtNode(
            "model.x.stg",
            "stg",
            "model",
            "staging",
            "stg",
            "table",
            "models/stg.sql",
            sources=("banking.accounts",),
        ),
        DbtNode(
            "model.x.mart", "mart", "model", "banking", "mart", "table", "models/mart.sql", ("model.x.stg",)
        ),
    )
    graph = DbtGraph("x", "f", "akko", "staging", nodes)
    tenancy = Tenancy.from_raw({"demo": {"namespaces": ["demo", "marts"]}})
    pipeline, source = load_spec(spec, "spec.yaml")
    with pytest.raises(SpecError) as raised:
        build_plan(pipeline, source, dbt_graphs=lambda *_: DbtLookup(graph), tenancy=tenancy)
    found = [(i.file, i.line, i.column, i.field, i.reason.split(":")[0]) for i in raised.value.issues]
    assert found == [
        ("spec.yaml", 8, 16, "steps[0].namespace", "dbt model stg"),
        ("dbt/models/mart.sql", 2, 5, "steps[0].project", "dbt model mart"),
        (
            "dbt/models/stg.sql",
            1,
            37,
            "steps[0].project",
            "table banking.accounts is in namespace 'banking', which team 'demo' may not read (it reads",
        ),
    ]
