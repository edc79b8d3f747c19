"""Profiles: defaults, akko.yaml, environment overrides, validation of the cluster profile, secrets."""

from __future__ import annotations

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


def test_cluster_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in CLUSTER_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AKKO_PROFILE", "cluster")
    project = load_project(REPO)
    profile = project.profile
    assert profile.engine == "cluster" and profile.sql_engine == "trino"
    assert profile.catalog.uri == CLUSTER_ENV["AKKO_POLARIS_URI"]
    assert profile.catalog.warehouse == "akko-warehouse"
    assert profile.object_store.uri == "s3://akko-warehouse" and profile.object_store.path_style
    assert profile.spark.remote == CLUSTER_ENV["AKKO_SPARK_REMOTE"]


def test_cluster_profile_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="AKKO_POLARIS_URI is not set"):
        load_project(REPO, profile="cluster")


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
