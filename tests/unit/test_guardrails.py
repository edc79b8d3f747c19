"""Guardrails without Airflow's parsing (tests/e2e/test_guardrails.py has it): akko.yaml's settings and their
located errors, the hand-written DAG folders linked into AKKO's DAG folder, the lines violations name, and the
audit-hook import window telling a DAG file's own I/O from imports and the time-zone database."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from akko_orchestrator.config.dag_folders import DagFolder
from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.guardrails import parse_watch
from akko_orchestrator.guardrails.violations import locate
from akko_orchestrator.local_airflow.dag_folders import link_dag_folders
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "e2e" / "guardrails" / "dags"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AKKO_PROFILE", "AKKO_PROJECT_DIR", "AKKO_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_and_sizes(tmp_path: Path) -> None:
    (tmp_path / "akko.yaml").write_text(
        "guardrails:\n  xcom_max_bytes: 1MiB\n  bash_operator: {allowed_dags: [legacy_*]}\n"
    )
    settings = load_project(tmp_path).config.guardrails
    assert settings.xcom_max_bytes == 1024 * 1024 and settings.bash_operator.allowed_dags == ["legacy_*"]
    assert settings.parse_io == "refuse" and settings.iceberg_writes == "akko_only" and settings.require_team
    assert load_project(tmp_path).config.dags == [DagFolder(path="dags")]


def test_bad_values_are_located(tmp_path: Path) -> None:
    (tmp_path / "akko.yaml").write_text(
        "project: x\nguardrails:\n  xcom_max_bytes: lots\n  parse_io: sometimes\n  bash_operatr: {allow: true}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    message = str(caught.value)
    assert (
        "akko.yaml:3:19: guardrails.xcom_max_bytes: " in message
        and "(a size such as 48KB or 1MiB)" in message
    )
    assert "akko.yaml:4:13: guardrails.parse_io: " in message and "(refuse or allow)" in message
    assert "akko.yaml:5:3: guardrails.bash_operatr: Extra inputs are not permitted" in message


def test_hand_written_folders_are_linked_beside_the_shims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "akko.yaml").write_text(yaml.safe_dump({"dags": ["dags", "team/extra", "missing"]}))
    (tmp_path / "dags").mkdir()
    (tmp_path / "team" / "extra").mkdir(parents=True)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / "state"))
    project = load_project(tmp_path)
    (project.dags_dir).mkdir(parents=True)
    os.symlink(tmp_path / "dags", project.dags_dir / "hand_written__old")  # a folder no longer configured
    assert link_dag_folders(project) == [tmp_path / "dags", tmp_path / "team" / "extra"]
    links = sorted(p.name for p in project.dags_dir.iterdir())
    assert links == ["hand_written__dags", "hand_written__team__extra"]
    assert not os.path.isabs(os.readlink(project.dags_dir / "hand_written__dags"))  # survives a move
    (tmp_path / "dags" / "later.py").write_text("")
    assert (project.dags_dir / "hand_written__dags" / "later.py").is_file()  # no sync needed
    assert link_dag_folders(project) == [tmp_path / "dags", tmp_path / "team" / "extra"]  # idempotent


def test_lines_are_found_by_dag_and_task_id() -> None:
    assert locate(str(FIXTURES / "bash_operator.py"), "shell", "task") == 13
    assert locate(str(FIXTURES / "bash_operator.py"), "guard_bash", "dag") == 6  # DAG("guard_bash", ...)
    assert locate(str(FIXTURES / "good.py"), "guard_good", "dag") == 13  # @dag(dag_id=...)
    assert locate(str(FIXTURES / "good.py"), "hello", "task") == 8  # @task def hello
    assert locate(str(FIXTURES / "good.py"), "group.hello", "task") == 8  # inside a task group
    assert locate(str(FIXTURES / "good.py"), "nothing", "task") is None


DAG_FILE = """import json
import socket
import zoneinfo

ZONE = zoneinfo.ZoneInfo("Europe/Paris")


def names(folder):
    return sorted(os.listdir(folder))


import os

NAMES = names({folder!r})
with open({config!r}) as f:
    CONFIG = json.load(f)
try:
    HOST = socket.getaddrinfo("localhost", 80)
except OSError:  # no resolver here: the lookup was still attempted
    HOST = None
"""


def test_the_import_window_sees_the_files_own_io_only(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    dag_file = tmp_path / "io_dag.py"
    dag_file.write_text(DAG_FILE.format(folder=str(tmp_path), config=str(config)))
    parse_watch.start(str(dag_file))
    spec = importlib.util.spec_from_file_location("io_dag_under_test", dag_file)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    window = parse_watch.window_for(str(dag_file))
    assert window is not None and window.seconds is not None
    found = [(line, what) for line, what in window.io]
    assert found == [
        (9, f"os.listdir {tmp_path}"),
        (15, f"open {config}"),
        (18, "socket.getaddrinfo localhost"),
    ]
    open(config).close()  # after the window: not recorded
    assert len(window.io) == 3


def test_the_library_api_is_exported_lazily() -> None:
    from akko_orchestrator import guardrails
    from akko_orchestrator.guardrails.policies import check_dag_file

    assert guardrails.check_dag_file is check_dag_file


def test_pyiceberg_is_guarded_when_imported_later() -> None:
    code = (
        "import sys\n"
        "from akko_orchestrator.guardrails.iceberg import install\n"
        "install()\n"
        "assert 'pyiceberg.table' not in sys.modules\n"
        "from pyiceberg.table import Table\n"
        "from pyiceberg.catalog.sql import SqlCatalog\n"
        "assert Table._do_commit.__akko_guarded__ and SqlCatalog.drop_table.__akko_guarded__\n"
        "assert SqlCatalog.commit_table.__akko_guarded__ and SqlCatalog.create_namespace.__akko_guarded__\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)


def test_akkos_airflow_uses_the_guarded_xcom_backend_here_and_on_kubernetes(tmp_path: Path) -> None:
    from akko_orchestrator.local_airflow.environment import airflow_environment

    backend = airflow_environment(load_project(tmp_path))["AIRFLOW__CORE__XCOM_BACKEND"]
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values-common.yaml").read_text())
    assert (
        backend == values["config"]["core"]["xcom_backend"] == "akko_orchestrator.guardrails.xcom.GuardedXCom"
    )


def test_shims_are_recognised_by_their_marker(tmp_path: Path) -> None:
    from akko_orchestrator.compiler.shims import MARKER, render_shim
    from akko_orchestrator.guardrails.rules import SHIM_MARKER, is_akko_shim

    assert MARKER.startswith(SHIM_MARKER)
    shim = tmp_path / "p.py"
    shim.write_text(render_shim(tmp_path / "p.yaml", tmp_path, "p.yaml"))
    assert is_akko_shim(str(shim)) and not is_akko_shim(str(FIXTURES / "good.py"))
