"""Tenancy at run time through real Airflow (in-process dag.test) on the embedded lakehouse: a python step of team
demo appending to banking's table through the read-only catalog AKKO hands it, and a spec edited after its DAG was
parsed (its SQL now reads another team's namespace), are refused before any table changes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.local_airflow.inprocess import run_pipeline
from akko_orchestrator.spec.models import Output
from tests.conftest import copy_project

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent / "tenancy"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = copy_project(tmp_path_factory.mktemp("tenancy") / "project", teams=True)
    for extra in HERE.iterdir():
        if extra.is_dir():
            shutil.copytree(extra, root / "pipelines" / extra.name)
        else:
            shutil.copy(extra, root / "pipelines" / extra.name)
    config = yaml.safe_load((root / "akko.yaml").read_text())
    config["teams"]["demo"]["reads"] = ["banking"]  # demo may read banking here, never write it
    (root / "akko.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    saved = {k: os.environ.get(k) for k in ("AKKO_PROJECT_DIR", "AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"))
    os.environ.pop("AKKO_PROFILE", None)
    project = load_project(root)
    catalog = open_catalog(project)
    write_table(catalog, Output(table="banking.accounts"), pa.table({"id": pa.array([1, 2], pa.int64())}))
    write_table(catalog, Output(table="ops.secrets"), pa.table({"id": pa.array([7], pa.int64())}))
    yield project
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _state(project: Project, table: str) -> tuple[int | None, int]:
    loaded = open_catalog(project).load_table(table)
    snapshot = loaded.current_snapshot()
    return (snapshot.snapshot_id if snapshot else None), loaded.scan().to_arrow().num_rows


def test_python_step_cannot_write_another_teams_table(project: Project) -> None:
    before = _state(project, "banking.accounts")
    report = run_pipeline(project, "tenant_breach")
    assert report.state == "failed"
    errors = " ".join(t.error or "" for t in report.failed)
    assert "step 'sneak_write': table banking.accounts (read-only).append refused" in errors, errors
    assert "return the rows" in errors, errors  # the way to write, named
    assert _state(project, "banking.accounts") == before  # no commit, same rows


def test_spec_edited_after_parsing_is_refused_at_run_time(project: Project) -> None:
    before = _state(project, "ops.secrets")
    report = run_pipeline(project, "tenant_spec_edited")
    assert report.state == "failed"
    assert [t.task_id for t in report.failed] == ["summary"], report.failed
    error = report.failed[0].error or ""
    assert "ops.secrets" in error and "may not read" in error, error
    assert not open_catalog(project).table_exists("demo.tenant_summary")
    assert _state(project, "ops.secrets") == before


def test_a_step_cannot_fetch_another_teams_connection(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AKKO_OPERATIONAL", "postgres://akko:s3cr3t-pw@127.0.0.1:1/operational")
    report = run_pipeline(project, "tenant_connection")
    assert report.state == "failed"
    error = report.failed[0].error or ""
    assert "Airflow connection 'akko_operational' is not among the connections of team 'demo'" in error, error
    assert "s3cr3t" not in error
