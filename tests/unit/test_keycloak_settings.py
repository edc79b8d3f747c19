"""Keycloak SSO settings: a profile's `airflow.auth` as Airflow's AIRFLOW__ variables (local_airflow/auth.py),
the per-team DAG bundles of multi-team mode, and the `akko` realm the stack imports (stack/keycloak_realm.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.local_airflow import auth
from akko_orchestrator.local_airflow.environment import airflow_environment
from akko_orchestrator.stack import keycloak_realm

KEYCLOAK_PROFILE = """\
project: sso
teams:
  demo: {namespaces: [demo]}
  banking: {namespaces: [banking]}
profiles:
  local:
    airflow:
      auth: keycloak
      keycloak:
        server_url: http://127.0.0.1:8081/
        client_secret: {env: TEST_KC_SECRET}
"""
PIPELINE = "pipeline: {name}\nowner: me\nteam: {team}\nsteps:\n  - {{id: s, kind: sql, sql: SELECT 1 AS a, output: {{table: {team}.t}}}}\n"


def project(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "akko.yaml").write_text(text)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    return load_project(tmp_path)


def test_simple_auth_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = project(tmp_path, "project: p\nteams:\n  demo: {namespaces: [demo]}\n", monkeypatch)
    assert found.profile.airflow.auth == "simple"
    assert auth.auth_settings(found) == {}
    env = airflow_environment(found)
    assert not [
        key
        for key in env
        if "KEYCLOAK" in key or key in ("AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__CORE__MULTI_TEAM")
    ]
    assert "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST" not in env
    auth.check_keycloak(found)  # nothing to check, no network


def test_keycloak_settings_with_teams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KC_SECRET", "s3cret")
    found = project(tmp_path, KEYCLOAK_PROFILE, monkeypatch)
    settings = auth.auth_settings(found)
    assert settings["AIRFLOW__CORE__AUTH_MANAGER"] == auth.KEYCLOAK_AUTH_MANAGER
    assert settings["AIRFLOW__KEYCLOAK_AUTH_MANAGER__SERVER_URL"] == "http://127.0.0.1:8081"
    assert settings["AIRFLOW__KEYCLOAK_AUTH_MANAGER__REALM"] == "akko"
    assert settings["AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_ID"] == "airflow"
    assert settings["AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_SECRET"] == "s3cret"
    assert settings["AIRFLOW__CORE__MULTI_TEAM"] == "True"
    assert settings[auth.TEAMS_VARIABLE] == "demo,banking"  # created in Airflow's DB by ensure_database
    bundles = json.loads(settings["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert [(b["name"], b["team_name"], b["classpath"]) for b in bundles] == [
        ("akko-demo", "demo", auth.LOCAL_BUNDLE),
        ("akko-banking", "banking", auth.LOCAL_BUNDLE),
    ]
    assert bundles[0]["kwargs"]["path"] == str(found.airflow_home / "team-dags" / "demo")
    # airflow_environment carries them (what every Airflow process AKKO starts gets).
    assert airflow_environment(found)["AIRFLOW__CORE__AUTH_MANAGER"] == auth.KEYCLOAK_AUTH_MANAGER


def test_keycloak_without_teams_is_not_multi_team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KC_SECRET", "s3cret")
    text = KEYCLOAK_PROFILE.replace(
        "teams:\n  demo: {namespaces: [demo]}\n  banking: {namespaces: [banking]}\n", ""
    )
    settings = auth.auth_settings(project(tmp_path, text, monkeypatch))
    assert settings["AIRFLOW__CORE__AUTH_MANAGER"] == auth.KEYCLOAK_AUTH_MANAGER
    assert "AIRFLOW__CORE__MULTI_TEAM" not in settings


def test_missing_secret_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_KC_SECRET", raising=False)
    found = project(tmp_path, KEYCLOAK_PROFILE, monkeypatch)
    with pytest.raises(
        ConfigError, match=r"TEST_KC_SECRET.*profile 'local': airflow\.keycloak\.client_secret"
    ):
        auth.auth_settings(found)


def test_keycloak_needs_its_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="keycloak"):
        project(tmp_path, "project: p\nprofiles:\n  local:\n    airflow: {auth: keycloak}\n", monkeypatch)


def test_team_bundles_hold_each_team_s_shims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KC_SECRET", "s3cret")
    found = project(tmp_path, KEYCLOAK_PROFILE, monkeypatch)
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    for name, team in [("a", "demo"), ("b", "banking"), ("c", "demo"), ("d", "unknown")]:
        (pipelines / f"{name}.yaml").write_text(PIPELINE.format(name=name, team=team))
    assert auth.sync_team_bundles(found) == {"demo": ["a.py", "c.py"], "banking": ["b.py"]}
    demo = auth.team_dags_dir(found, "demo")
    assert sorted(p.name for p in demo.glob("*.py")) == ["a.py", "c.py"]
    assert "load_dag(__file__" in (demo / "a.py").read_text()
    (pipelines / "c.yaml").unlink()
    auth.sync_team_bundles(found)
    assert sorted(p.name for p in demo.glob("*.py")) == ["a.py"]  # stale shim removed


def test_realm_file_roles_groups_users() -> None:
    passwords = {
        user.username: f"pw-{user.username}" for user in keycloak_realm.test_users(["demo", "banking"])
    }
    realm = keycloak_realm.realm_representation("the-secret", ["demo", "banking"], passwords)
    assert realm["realm"] == "akko"
    (client,) = realm["clients"]
    assert client["clientId"] == "airflow" and client["secret"] == "the-secret"
    assert client["authorizationServicesEnabled"] and not client["publicClient"]
    assert client["authorizationSettings"]["decisionStrategy"] == "AFFIRMATIVE"
    assert keycloak_realm.SECRET_PLACEHOLDER not in json.dumps(realm)
    roles = {role["name"]: role for role in realm["roles"]["realm"]}
    assert set(keycloak_realm.ROLES) <= set(roles)
    assert roles["akko-viewer"]["composites"]["realm"] == ["Viewer"]
    assert roles["akko-engineer"]["composites"]["realm"] == ["User", "Op"]
    assert [group["name"] for group in realm["groups"]] == ["demo", "banking"]
    users = {user["username"]: user for user in realm["users"]}
    assert users["demo-analyst"]["realmRoles"] == ["akko-analyst"] and users["demo-analyst"]["groups"] == [
        "/demo"
    ]
    assert users["no-team"]["groups"] == [] and users["admin"]["realmRoles"] == ["akko-admin"]
    assert {user["realmRoles"][0] for user in realm["users"]} == set(keycloak_realm.ROLES)
    assert users["banking-viewer"]["credentials"][0]["value"] == "pw-banking-viewer"


def test_stack_up_keycloak_adds_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from akko_orchestrator.stack.keycloak import KeycloakService
    from akko_orchestrator.stack.manager import StackOptions, build_stack

    monkeypatch.delenv("AKKO_STACK_KEYCLOAK", raising=False)
    found = project(tmp_path, "project: p\nteams:\n  demo: {namespaces: [demo]}\n", monkeypatch)
    assert "keycloak" not in [service.name for service in build_stack(found).services]
    services = build_stack(found, StackOptions(keycloak=True)).services
    (keycloak,) = [service for service in services if isinstance(service, KeycloakService)]
    assert keycloak.teams == ["demo"] and not keycloak.status().running


def test_the_stacks_celery_airflow_keeps_a_keycloak_profiles_auth_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from akko_orchestrator.stack.airflow_services import SIMPLE_AUTH, AirflowStack
    from akko_orchestrator.stack.base import StackPaths

    monkeypatch.setenv("TEST_KC_SECRET", "s3cret")
    found = project(tmp_path, KEYCLOAK_PROFILE, monkeypatch)
    paths = StackPaths(state=tmp_path / "stack", cache=tmp_path / "cache")
    # Built, not started: which auth manager the stack's components would get.
    keycloak_stack = AirflowStack(paths, found, postgres=None, redis=None)  # type: ignore[arg-type]
    assert keycloak_stack.uses_keycloak
    other = AirflowStack(paths, found, postgres=None, redis=None, profile="cluster")  # type: ignore[arg-type]
    assert not other.uses_keycloak  # tasks of another profile: the simple admin
    assert SIMPLE_AUTH["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
