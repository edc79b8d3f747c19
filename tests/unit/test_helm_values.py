"""deploy/helm/: the Apache Airflow chart values AKKO ships agree with what AKKO's own code sets.

Runs everywhere (no helm, no chart): the values files parse; the OpenLineage settings are the ones
lineage/settings.py builds; the auth manager, the DAG bundle class and the Keycloak options exist in the
installed providers; the local-settings file is AKKO's; the `polaris` profile of akko.yaml resolves from the
values' environment; no secret is written in the values. tests/integration/test_helm.py renders them for real.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from akko_orchestrator.config.models import SecretRef
from akko_orchestrator.config.project import load_project
from akko_orchestrator.lineage.settings import airflow_settings
from akko_orchestrator.local_airflow.environment import LOCAL_SETTINGS

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / "deploy" / "helm"
VARIANTS = {"kubernetes": "KubernetesExecutor", "celery": "CeleryExecutor"}
API_KEY_REF = "$(AKKO_OPENLINEAGE_API_KEY)"
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$|^AIRFLOW_CONN_|SQL_ALCHEMY_CONN")


def import_string(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def load(name: str) -> dict[str, Any]:
    values = yaml.safe_load((HELM / name).read_text())
    assert isinstance(values, dict), name
    return values


@pytest.fixture(scope="module")
def common() -> dict[str, Any]:
    return load("values-common.yaml")


def env_of(values: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in values["env"]}


def secrets_of(values: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {item["envName"]: (item["secretName"], item["secretKey"]) for item in values["secret"]}


def extra_env(values: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in yaml.safe_load(values["extraEnv"])}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_sets_its_executor_and_nothing_of_the_common_part(variant: str, common: dict) -> None:
    values = load(f"values-{variant}.yaml")
    assert values["executor"] == VARIANTS[variant]
    assert "executor" not in common
    assert values["redis"]["enabled"] is (variant == "celery")
    assert not {"env", "secret", "extraEnv"} & values.keys()  # the environment is common to both


def test_openlineage_is_the_http_transport_lineage_settings_builds(
    common: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = json.loads(extra_env(common)["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport["auth"] == {"type": "api_key", "apiKey": API_KEY_REF}  # a reference, not the key
    assert "AKKO_OPENLINEAGE_API_KEY" in secrets_of(common)
    section = common["config"]["openlineage"]
    # The same `lineage:` in an akko.yaml, through AKKO's own code.
    (tmp_path / "akko.yaml").write_text(
        "lakehouse: lake\nprofile: local\nprofiles:\n  local: {}\nlineage:\n  transport: http\n"
        f"  url: {transport['url']}\n  api_key: {{env: AKKO_OPENLINEAGE_API_KEY}}\n"
        f"  timeout: {transport['timeout']}\n  namespace: {section['namespace']}\n"
    )
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    monkeypatch.setenv("AKKO_OPENLINEAGE_API_KEY", API_KEY_REF)
    akko = airflow_settings(load_project(tmp_path))
    composite = json.loads(akko.pop("AIRFLOW__OPENLINEAGE__TRANSPORT"))
    assert transport == composite["transports"]["consumer"]  # less the local event log: a pod's disk is lost
    assert transport["endpoint"] == "api/v1/openlineage/lineage"  # OpenMetadata's
    assert {f"AIRFLOW__OPENLINEAGE__{key.upper()}": value for key, value in section.items()} == akko


def test_the_auth_manager_is_keycloaks_and_its_secret_comes_from_a_secret(common: dict) -> None:
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
    from airflow.providers.keycloak.get_provider_info import get_provider_info

    config = common["config"]
    manager = import_string(config["core"]["auth_manager"])
    assert manager.__name__ == "KeycloakAuthManager" and issubclass(manager, BaseAuthManager)
    options = get_provider_info()["config"]["keycloak_auth_manager"]["options"]
    assert set(config["keycloak_auth_manager"]) <= set(options)
    assert {"server_url", "realm", "client_id"} <= set(config["keycloak_auth_manager"])
    assert options["client_secret"]["sensitive"] is True
    assert "client_secret" not in config["keycloak_auth_manager"]
    assert "AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_SECRET" in secrets_of(common)
    assert config["api"]["base_url"].startswith("https://")  # Keycloak redirects back to it


def test_the_dag_bundle_is_a_git_bundle_the_installed_provider_accepts(common: dict) -> None:
    bundles = json.loads(common["config"]["dag_processor"]["dag_bundle_config_list"])
    assert [b["classpath"] for b in bundles] == ["airflow.providers.git.bundles.git.GitDagBundle"]
    kwargs = bundles[0]["kwargs"]
    assert f"AIRFLOW_CONN_{kwargs['git_conn_id'].upper()}" in secrets_of(common)
    assert not common["dags"]["gitSync"]["enabled"] and not common["dags"]["persistence"]["enabled"]
    pytest.importorskip("airflow.providers.git", reason="apache-airflow-providers-git (the cluster extra)")
    from airflow.dag_processing.bundles.base import BaseDagBundle

    bundle = import_string(bundles[0]["classpath"])
    assert issubclass(bundle, BaseDagBundle)
    assert set(kwargs) <= set(inspect.signature(bundle.__init__).parameters)


def test_local_settings_are_akkos(common: dict) -> None:
    assert common["airflowLocalSettings"] == LOCAL_SETTINGS.rstrip("\n")


def test_the_image_is_the_airflow_akko_runs_and_the_dockerfile_builds_it(common: dict) -> None:
    airflow = version("apache-airflow")
    assert common["airflowVersion"] == airflow
    assert common["images"]["airflow"]["tag"].startswith(f"{airflow}-akko-")
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert f"FROM apache/airflow:{airflow}-python3.11" in dockerfile  # pyproject: requires-python 3.11
    assert "[cluster]" in dockerfile and f"apache-airflow=={airflow}" in dockerfile


def test_the_polaris_profile_resolves_from_the_values_environment(
    common: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ${VAR} of akko.yaml's `polaris` profile comes from `env:` and every secret of it from `secret:`."""
    env, secrets = env_of(common), secrets_of(common)
    assert env["AKKO_PROFILE"] == "polaris"
    raw = yaml.safe_load((REPO / "akko.yaml").read_text())["profiles"]["polaris"]
    text = json.dumps(raw)
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    secret_refs = set(re.findall(r'"env": "([A-Z_][A-Z0-9_]*)"', text))
    assert variables <= env.keys(), "a ${VAR} of the polaris profile is missing from env:"
    assert secret_refs and secret_refs <= secrets.keys(), "a secret of the polaris profile is not in secret:"
    assert f"AIRFLOW_CONN_{raw['trino']['conn_id'].upper()}" in secrets
    for name in [n for n in os.environ if n.startswith("AKKO_")]:
        monkeypatch.delenv(name)  # only what the values set
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in secrets:
        monkeypatch.setenv(name, f"from-secret-{name}")
    project = load_project(REPO)
    assert project.profile_name == "polaris"
    assert project.catalog_uri == env["AKKO_POLARIS_URI"]
    credential = project.profile.catalog.credential  # type: ignore[union-attr]
    assert isinstance(credential, SecretRef)
    assert credential.resolve().get_secret_value() == "from-secret-AKKO_POLARIS_CREDENTIAL"


def test_no_secret_is_written_in_the_values() -> None:
    for path in sorted(HELM.glob("values-*.yaml")):
        values = load(path.name)
        for name, value in {**(env_of(values) if "env" in values else {})}.items():
            assert not SECRET_WORDS.search(name), f"{path.name}: {name} belongs in `secret:`"
            assert "://" not in value or "@" not in value, f"{path.name}: {name} holds credentials"
        for name in extra_env(values) if values.get("extraEnv") else {}:
            assert name == "AIRFLOW__OPENLINEAGE__TRANSPORT"
        for section, options in values.get("config", {}).items():
            for option in options:
                assert not re.search(r"password|secret|token|credential|sql_alchemy_conn", option), (
                    f"{path.name}: [{section}] {option} belongs in a Kubernetes secret"
                )
        for key in ("fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"):
            assert key not in values, f"{path.name}: {key} inline; use {key}SecretName"
        assert "metadataConnection" not in values.get("data", {})
        assert "password" not in values.get("redis", {})


def test_statsd_is_on_with_akkos_mappings_and_prefix(common: dict) -> None:
    from akko_orchestrator.observability.settings import DEFAULT_PREFIX

    mappings = yaml.safe_load((REPO / "deploy" / "statsd" / "akko-mappings.yaml").read_text())["mappings"]
    assert common["statsd"]["enabled"] is True
    assert common["statsd"]["extraMappings"] == mappings  # the chart's exporter labels AKKO's metrics too
    # the chart sets [metrics] statsd_prefix `airflow` unless told otherwise: the prefix the mappings match
    assert common.get("config", {}).get("metrics", {}).get("statsd_prefix", "airflow") == DEFAULT_PREFIX
    assert all(m["match"].startswith(f"{DEFAULT_PREFIX}.akko.") for m in mappings)
    assert common["images"]["statsd"]["repository"] == "quay.io/prometheus/statsd-exporter"
