"""Profiles: defaults, akko.yaml, environment overrides, validation of the cluster profile, secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from akko_orchestrator.config.models import SecretRef
from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import ConfigError
from tests.conftest import REPO

CLUSTER_ENV = {
    "AKKO_POLARIS_URI": "http://polaris.example:8181/api/catalog",
    "AKKO_S3_ENDPOINT": "http://s3.example:8333",
    "AKKO_SPARK_REMOTE": "sc://spark.example:15002",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AKKO_PROFILE", "AKKO_PROJECT_DIR", "AKKO_STATE_DIR", *CLUSTER_ENV):
        monkeypatch.delenv(name, raising=False)


def test_local_defaults_without_project_file(tmp_path: Path) -> None:
    project = load_project(tmp_path)
    assert project.profile_name == "local" and project.profile.engine == "embedded"
    assert project.catalog_uri == f"sqlite:///{tmp_path / '.akko' / 'catalog.db'}"
    assert project.object_store_uri == str(tmp_path / ".akko" / "object-store")


def test_polaris_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in CLUSTER_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AKKO_PROFILE", "polaris")
    project = load_project(REPO)
    profile = project.profile
    assert profile.engine == "cluster" and profile.sql_engine == "trino"
    assert profile.catalog.uri == CLUSTER_ENV["AKKO_POLARIS_URI"]
    assert profile.catalog.warehouse == "akko-warehouse"
    assert profile.object_store.uri == "s3://akko-warehouse" and profile.object_store.path_style
    assert profile.spark.remote == CLUSTER_ENV["AKKO_SPARK_REMOTE"]


def test_cluster_profile_names_the_missing_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path))  # no stack.env there
    for name in (
        "AKKO_POLARIS_URI",
        "AKKO_CATALOG_URI",
    ):  # set by an earlier load of a running stack's env file
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="AKKO_POLARIS_URI is not set.*akko stack up"):
        load_project(REPO, profile="polaris")
    with pytest.raises(ConfigError, match="AKKO_CATALOG_URI is not set.*akko stack up"):
        load_project(REPO, profile="cluster")


STACK_ENV = {
    "AKKO_CATALOG_URI": "postgresql+psycopg2://akko_catalog@127.0.0.1:5999/akko_catalog",
    "AKKO_WAREHOUSE": "file:///tmp/wh",
    "AKKO_CATALOG_PASSWORD": "pw",
    "AKKO_OBJECT_STORE": "/tmp/os",
    "AKKO_SPARK_REMOTE": "sc://127.0.0.1:15999",
    "AIRFLOW_CONN_AKKO_TRINO": "trino://akko@127.0.0.1:8999/?catalog=iceberg",
}


def test_cluster_profile_reads_the_stack_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`akko stack up` writes <state>/stack/stack.env; a cluster profile takes its variables as defaults (an
    exported variable wins), and the local profile never reads it."""
    import shlex

    (tmp_path / "stack").mkdir()
    lines = [f"export {k}={shlex.quote(v)}" for k, v in STACK_ENV.items()]
    (tmp_path / "stack" / "stack.env").write_text("# header\n" + "\n".join(lines) + "\n")
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path))
    for key in STACK_ENV:  # recorded by monkeypatch, so what load_project sets is undone after the test
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    load_project(REPO, profile="local")
    assert "AKKO_CATALOG_URI" not in os.environ
    monkeypatch.setenv("AKKO_SPARK_REMOTE", "sc://elsewhere:15002")
    project = load_project(REPO, profile="cluster")
    assert project.profile.catalog.uri == STACK_ENV["AKKO_CATALOG_URI"]
    assert project.object_store_uri == "/tmp/os" and project.warehouse == "file:///tmp/wh"
    assert project.profile.spark.remote == "sc://elsewhere:15002"
    assert project.profile.trino.conn_id == "akko_trino"
    assert os.environ["AIRFLOW_CONN_AKKO_TRINO"] == STACK_ENV["AIRFLOW_CONN_AKKO_TRINO"]


def test_double_underscore_overrides_and_cli_profile_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "akko.yaml").write_text("profiles:\n  local: {}\n  other: {}\n")
    monkeypatch.setenv("AKKO_PROFILE", "other")
    monkeypatch.setenv("AKKO__OBJECT_STORE__URI", "landing")
    project = load_project(tmp_path, profile="local")
    assert project.profile_name == "local"
    assert project.object_store_uri == str(tmp_path / "landing")


def test_incomplete_cluster_profile_and_unknown_profile(tmp_path: Path) -> None:
    (tmp_path / "akko.yaml").write_text("profiles:\n  c: {engine: cluster}\n")
    with pytest.raises(
        ConfigError, match="a cluster profile needs trino, spark, object_store.uri, catalog.uri"
    ):
        load_project(tmp_path, profile="c")
    with pytest.raises(ConfigError, match="no profile 'nope'"):
        load_project(tmp_path, profile="nope")


def test_secrets_come_from_the_environment_and_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = SecretRef(env="AKKO_TEST_SECRET")
    with pytest.raises(ConfigError, match="AKKO_TEST_SECRET is empty or missing"):
        ref.resolve()
    monkeypatch.setenv("AKKO_TEST_SECRET", "s3cr3t")
    secret = ref.resolve()
    assert secret.get_secret_value() == "s3cr3t" and "s3cr3t" not in repr(secret) + str(secret)


def test_s3_store_requires_secret_references(tmp_path: Path) -> None:
    (tmp_path / "akko.yaml").write_text("profiles:\n  local:\n    object_store: {uri: 's3://bucket'}\n")
    with pytest.raises(ConfigError, match="needs `access_key` and `secret_key`"):
        load_project(tmp_path)


def test_team_names_follow_airflows_rule_and_executor_auth_need_their_sections(tmp_path: Path) -> None:
    (tmp_path / "akko.yaml").write_text("teams:\n  ab: {namespaces: [ab]}\n")
    with pytest.raises(ConfigError, match=r"team name\(s\) ab: 3 to 50 letters"):
        load_project(tmp_path)
    (tmp_path / "akko.yaml").write_text("profiles:\n  local:\n    airflow: {auth: keycloak}\n")
    with pytest.raises(ConfigError, match="auth `keycloak` needs a `keycloak:` section"):
        load_project(tmp_path)
    (tmp_path / "akko.yaml").write_text("profiles:\n  local:\n    airflow: {executor: CeleryExecutor}\n")
    with pytest.raises(ConfigError, match="executor `CeleryExecutor` needs a `celery:` section"):
        load_project(tmp_path)
