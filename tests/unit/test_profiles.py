"""Steps limited to profiles, and SQL the embedded engine cannot answer like Trino: what each profile's DAG holds,
and what `akko validate` refuses for `local`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from akko_orchestrator.compiler.entry import compile_plan
from akko_orchestrator.errors import SpecError
from akko_orchestrator.spec.validate import validate_path
from tests.conftest import REPO

PROJECT = """\
lakehouse: akko
profile: local
profiles:
  local: {}
  cluster: {engine: cluster}
"""

SPEC = """\
pipeline: medians
owner: me
team: demo
steps:
  - id: median_local
    kind: sql
    profiles: [local]
    sql: SELECT region, avg(revenue) AS revenue FROM demo.sales GROUP BY region
    output: {table: marts.medians, mode: overwrite}
  - id: median_cluster
    kind: sql
    profiles: [cluster]
    sql: |
      SELECT region,
             approx_percentile(revenue, 0.5) AS revenue
      FROM demo.sales GROUP BY region
    output: {table: marts.medians, mode: overwrite}
  - id: report
    kind: sql
    queries:
      top: SELECT * FROM marts.medians ORDER BY revenue DESC LIMIT 1
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AKKO_PROFILE", raising=False)
    (tmp_path / "akko.yaml").write_text(PROJECT)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "medians.yaml").write_text(SPEC)
    return tmp_path


def test_each_profile_plans_its_own_steps(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = project / "pipelines" / "medians.yaml"
    local = compile_plan(spec, project)  # akko.yaml's default profile
    assert [s.id for s in local.steps] == ["median_local", "report"]
    assert local.step("report").upstream == ("median_local",)
    cluster = compile_plan(spec, project, profile="cluster")
    assert [s.id for s in cluster.steps] == ["median_cluster", "report"]
    monkeypatch.setenv("AKKO_PROFILE", "cluster")  # what `akko run --profile cluster` passes to Airflow
    assert [s.id for s in compile_plan(spec, project).steps] == ["median_cluster", "report"]


def test_embedded_refuses_what_duckdb_would_answer_differently(project: Path) -> None:
    spec = project / "pipelines" / "medians.yaml"
    text = SPEC.replace("    profiles: [cluster]\n", "")  # the approx step now runs on `local` too
    text = text.replace(
        "marts.medians, mode: overwrite}\n  - id: report", "marts.p50, mode: overwrite}\n  - id: report"
    )
    spec.write_text(text)
    with pytest.raises(SpecError) as raised:
        compile_plan(spec, project)
    (issue,) = raised.value.issues
    assert (issue.file, issue.line, issue.column, issue.field) == (
        "pipelines/medians.yaml",
        14,
        14,
        "steps[1].sql",
    )
    assert "approx_percentile: not supported by the embedded engine" in issue.reason
    assert "cluster" in issue.reason
    assert [s.id for s in compile_plan(spec, project, profile="cluster").steps][-1] == "report"


def test_validate_checks_profile_names_and_per_profile_writers(project: Path) -> None:
    report = validate_path(
        project / "pipelines", project, profile="local", known_profiles=["local", "cluster"]
    )
    assert report.ok, [i.format() for i in report.issues]
    typo = SPEC.replace("profiles: [cluster]", "profiles: [clutser]")
    (project / "pipelines" / "medians.yaml").write_text(typo)
    report = validate_path(
        project / "pipelines", project, profile="local", known_profiles=["local", "cluster"]
    )
    assert [(i.field, i.reason) for i in report.issues] == [
        ("steps[1].profiles[0]", "unknown profile 'clutser'")
    ]
    # Without a profile every step counts: two writers of one table.
    report = validate_path(project / "pipelines", project)
    assert any("already written by step 'median_local'" in i.reason for i in report.issues)


def test_a_profile_with_no_step_is_an_error(project: Path) -> None:
    spec = project / "pipelines" / "medians.yaml"
    spec.write_text(
        "pipeline: only_cluster\nowner: me\nteam: demo\nsteps:\n"
        "  - id: a\n    kind: sql\n    profiles: [cluster]\n    queries: {n: SELECT 1 AS n}\n"
    )
    with pytest.raises(SpecError, match="no step runs on profile 'local'"):
        compile_plan(spec, project)


def test_spark_script_is_checked_without_importing_it(project: Path) -> None:
    spec = project / "pipelines" / "spark.yaml"
    shutil.copytree(REPO / "pipelines" / "transforms", project / "pipelines" / "transforms")
    body = (
        "pipeline: sparky\nowner: me\nteam: demo\nsteps:\n  - id: s\n    kind: spark\n"
        "    script: transforms/sales_revenue.py\n    function: {function}\n"
        "    sources: {{raw_sales: {{files: raw/sales/*.csv}}}}\n    output: {{table: demo.sales}}\n"
    )
    spec.write_text(body.format(function="add_revenue"))
    assert [s.id for s in compile_plan(spec, project).steps] == ["s"]
    spec.write_text(body.format(function="add_revenu"))
    with pytest.raises(
        SpecError, match="defines no top-level function 'add_revenu'.*did you mean `add_revenue`"
    ):
        compile_plan(spec, project)
    (project / "pipelines" / "transforms" / "sales_revenue.py").write_text("def add_revenue(:\n")
    spec.write_text(body.format(function="add_revenue"))
    with pytest.raises(SpecError) as raised:
        compile_plan(spec, project)
    (issue,) = raised.value.issues
    assert issue.file == "pipelines/transforms/sales_revenue.py" and issue.line == 1
    assert "Python syntax error" in issue.reason


def test_a_pipeline_limited_to_profiles_has_no_dag_elsewhere(project: Path) -> None:
    from akko_orchestrator.compiler.entry import load_dag
    from akko_orchestrator.compiler.shims import sync_shims

    spec = project / "pipelines" / "medians.yaml"
    spec.write_text(SPEC.replace("team: demo\n", "team: demo\nprofiles: [cluster]\n"))
    assert compile_plan(spec, project).steps == ()  # checked all the same, planned empty on `local`
    assert [s.id for s in compile_plan(spec, project, profile="cluster").steps] == [
        "median_cluster",
        "report",
    ]
    dags = project / "dags"
    sync_shims(project / "pipelines", dags, project)
    assert load_dag(str(dags / "medians.py"), "../pipelines/medians.yaml") is None
    report = validate_path(project / "pipelines", project, profile="local", known_profiles=["local"])
    assert [(i.field, i.reason) for i in report.issues] == [
        ("profiles[0]", "unknown profile 'cluster'"),
        ("steps[1].profiles[0]", "unknown profile 'cluster'"),
    ]


def test_akko_dev_waits_only_for_pipelines_of_its_profile(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from akko_orchestrator.compiler.shims import sync_shims
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow.dev_ready import on_profile as _on_profile
    from akko_orchestrator.local_airflow.dev_ready import shim_files as _shim_files

    (project / "pipelines" / "cluster_only.yaml").write_text(
        SPEC.replace("pipeline: medians", "pipeline: cluster_only").replace(
            "team: demo\n", "team: demo\nprofiles: [cluster]\n"
        )
    )
    monkeypatch.setenv("AKKO_STATE_DIR", str(project / ".akko"))
    local = load_project(project, profile="local")
    sync_shims(project / "pipelines", local.dags_dir, project)
    assert sorted(_shim_files(local)) == ["medians.py"]
    assert _on_profile(local.dags_dir / "cluster_only.py", "cluster")  # the cluster profile waits for both
