"""akko.yaml `dags` entries with a team, the links of hand-written folders into each team's DAG bundle folder in
multi-team mode (local_airflow/dag_folders.py), and the folders on sys.path of a fresh Airflow process (its local
settings). Airflow's parse of those folders is tests/e2e/test_team_dags.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.local_airflow import auth, environment
from akko_orchestrator.local_airflow.dag_folders import PATHS_VARIABLE, tagged_teams

TEAMS = """\
project: sso
teams:
  demo: {namespaces: [demo]}
  banking: {namespaces: [banking]}
"""
KEYCLOAK = """\
profiles:
  local:
    airflow:
      auth: keycloak
      keycloak: {server_url: "http://127.0.0.1:8081/", client_secret: {env: TEST_KC_SECRET}}
"""
DAG = 'from airflow.sdk import DAG\n\nDAG("{name}", tags=["{tag}"])\n'


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AKKO_PROFILE", "AKKO_PROJECT_DIR", PATHS_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    monkeypatch.setenv("TEST_KC_SECRET", "s3cret")


def folder(root: Path, name: str, **files: str) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    for file, text in files.items():
        (root / name / f"{file}.py").write_text(text)


def test_an_unknown_team_is_located_with_a_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "akko.yaml").write_text(TEAMS + "dags:\n  - dags\n  - {path: ops, team: bankng}\n")
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert str(caught.value) == (
        "akko.yaml:7:23: dags[1].team: team 'bankng' is not declared in akko.yaml's `teams` "
        "(did you mean 'banking'?)"
    )
    (tmp_path / "akko.yaml").write_text(TEAMS + "dags:\n  - dags\n  - {path: ops, team: banking}\n")
    assert [(d.path, d.team) for d in load_project(tmp_path).config.dags] == [
        ("dags", None),
        ("ops", "banking"),
    ]


def test_team_mode_links_each_folder_into_its_team_bundle(tmp_path: Path) -> None:
    folder(tmp_path, "ops", a=DAG.format(name="a", tag="team:demo"))
    folder(tmp_path, "ledger/daily", b=DAG.format(name="b", tag="team:banking"), helpers="X = 1\n")
    folder(
        tmp_path, "mixed", c=DAG.format(name="c", tag="team:demo"), d=DAG.format(name="d", tag="team:banking")
    )
    akko_yaml = tmp_path / "akko.yaml"
    akko_yaml.write_text(
        TEAMS + "dags:\n  - {path: ops, team: banking}\n  - ledger/daily\n  - missing\n" + KEYCLOAK
    )
    project = load_project(tmp_path)
    demo, banking = auth.team_dags_dir(project, "demo"), auth.team_dags_dir(project, "banking")
    demo.mkdir(parents=True)
    os.symlink(tmp_path / "ops", demo / "hand_written__old")  # a folder no longer configured for demo
    assert auth.sync_team_bundles(project) == {"demo": [], "banking": []}  # no specs: the shims only
    # ops: the team akko.yaml gives (its files' tag is the dag-team rule's business); ledger/daily: its tags'
    assert sorted(p.name for p in banking.iterdir()) == ["hand_written__ledger__daily", "hand_written__ops"]
    assert not os.path.isabs(os.readlink(banking / "hand_written__ops"))
    assert list(demo.iterdir()) == []  # the stale link is gone
    assert environment.airflow_environment(project)[PATHS_VARIABLE] == os.pathsep.join(
        [str(tmp_path / "ops"), str(tmp_path / "ledger" / "daily")]
    )

    akko_yaml.write_text(TEAMS + "dags:\n  - {path: ops, team: demo}\n  - mixed\n" + KEYCLOAK)
    project = load_project(tmp_path)
    with pytest.raises(ConfigError) as caught:
        auth.sync_team_bundles(project)
    assert str(caught.value) == (
        "akko.yaml:7:5: dags[1]: folder 'mixed' has no `team` and its DAG files name team(s) banking, demo; in "
        "multi-team mode each folder is one team's (write it {path: mixed, team: <team>}, <team> one of demo, "
        "banking)"
    )
    akko_yaml.write_text(
        TEAMS + "dags:\n  - {path: ops, team: demo}\n  - {path: mixed, team: demo}\n" + KEYCLOAK
    )
    auth.sync_team_bundles(load_project(tmp_path))
    assert sorted(p.name for p in demo.iterdir()) == ["hand_written__mixed", "hand_written__ops"]  # moved
    assert list(banking.iterdir()) == []


def test_akko_sync_refreshes_the_team_bundles(tmp_path: Path) -> None:
    """Multi-team mode parses the teams' bundle folders: `akko sync` writes their shims and links as well."""
    import json

    from typer.testing import CliRunner

    from akko_orchestrator.cli.main import app

    folder(tmp_path, "ops", a=DAG.format(name="a", tag="team:demo"))
    (tmp_path / "pipelines").mkdir()
    spec = "pipeline: {name}\nteam: {team}\nsteps:\n  - id: s\n    kind: sql\n    sql: SELECT 1\n"
    (tmp_path / "pipelines" / "ledger.yaml").write_text(spec.format(name="ledger", team="banking"))
    (tmp_path / "akko.yaml").write_text(TEAMS + "dags:\n  - ops\n" + KEYCLOAK)
    done = CliRunner().invoke(app, ["--project", str(tmp_path), "sync", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["team_bundles"] == {"demo": [], "banking": ["ledger.py"]}
    project = load_project(tmp_path)
    assert (auth.team_dags_dir(project, "banking") / "ledger.py").is_file()
    assert (auth.team_dags_dir(project, "demo") / "hand_written__ops" / "a.py").is_file()

    (tmp_path / "pipelines" / "ledger.yaml").unlink()  # a removed spec leaves its team's bundle
    done = CliRunner().invoke(app, ["--project", str(tmp_path), "sync"])
    assert done.exit_code == 0 and "team banking: 0 pipeline(s)" in done.output, done.output
    assert not (auth.team_dags_dir(project, "banking") / "ledger.py").exists()


def test_tags_are_read_without_importing(tmp_path: Path) -> None:
    folder(
        tmp_path, "dags", a='open("/nonexistent")\nDAG("a", tags=["team:demo", "nightly"])\n', b="def (:\n"
    )
    assert tagged_teams(tmp_path / "dags") == {"demo"}  # a syntax error is the dag-processor's to report


def test_a_fresh_airflow_process_imports_helpers_beside_dags(tmp_path: Path) -> None:
    folder(tmp_path, "dags", team_helpers="LABEL = 'from the helper'\n")
    (tmp_path / "akko.yaml").write_text("project: p\n")
    project = load_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AKKO_"))}
    env.update(environment.airflow_environment(project))
    environment.write_local_settings(project.airflow_home)
    code = (
        "import airflow, team_helpers; print(team_helpers.LABEL)"  # Airflow's import loads its local settings
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd="/")
    assert done.stdout.strip() == "from the helper", done.stderr[-2000:]
