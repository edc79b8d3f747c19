"""deploy/helm/ rendered for real: `helm template` and `helm lint` of the Apache Airflow chart with AKKO's values,
both executor variants, validated by the chart's own values.schema.json (helm applies it on every render).

Needs the chart folder (AKKO_AIRFLOW_CHART: the `chart/` folder of the apache/airflow repository, or an unpacked
chart release) and a helm binary (AKKO_HELM, else `helm` on PATH, else ~/.cache/akko/bin/helm); skipped otherwise.
docs/deployment.md says how to get both.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HELM_VALUES = REPO / "deploy" / "helm"
VARIANTS = {"kubernetes": "KubernetesExecutor", "celery": "CeleryExecutor"}
RELEASE = "akko"
# Secret environment variables AKKO's values declare: (secret, key) each must come from.
SECRET_ENV = {
    "AKKO_POLARIS_CREDENTIAL": ("akko-polaris", "credential"),
    "AKKO_S3_ACCESS_KEY": ("akko-s3", "access-key"),
    "AKKO_S3_SECRET_KEY": ("akko-s3", "secret-key"),
    "AIRFLOW_CONN_AKKO_TRINO": ("akko-airflow-connections", "trino"),
    "AIRFLOW_CONN_AKKO_GIT": ("akko-airflow-connections", "git"),
    "AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_SECRET": ("akko-keycloak", "client-secret"),
    "AKKO_OPENLINEAGE_API_KEY": ("akko-openmetadata", "api-key"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": ("akko-airflow-metadata", "connection"),
    "AIRFLOW__CORE__FERNET_KEY": ("akko-airflow-fernet-key", "fernet-key"),
    "AIRFLOW__API__SECRET_KEY": ("akko-airflow-api-secret-key", "api-secret-key"),
    "AIRFLOW__API_AUTH__JWT_SECRET": ("akko-airflow-jwt-secret", "jwt-secret"),
}
SENSITIVE = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$|^AIRFLOW_CONN_|SQL_ALCHEMY_CONN|BROKER_URL")


def _helm() -> str | None:
    for candidate in (os.environ.get("AKKO_HELM"), shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return candidate
    cached = Path.home() / ".cache" / "akko" / "bin" / "helm"
    return str(cached) if cached.is_file() else None


@pytest.fixture(scope="module")
def helm() -> tuple[str, Path]:
    chart = os.environ.get("AKKO_AIRFLOW_CHART")
    if not chart or not (Path(chart) / "values.schema.json").is_file():
        pytest.skip(
            "AKKO_AIRFLOW_CHART is not set to the Apache Airflow chart folder (chart/ of apache/airflow, with its "
            "values.schema.json): see docs/deployment.md"
        )
    binary = _helm()
    if binary is None:
        pytest.skip("no helm (AKKO_HELM, PATH or ~/.cache/akko/bin/helm): see docs/deployment.md")
    return binary, Path(chart)


def _values_args(variant: str) -> list[str]:
    return ["-f", str(HELM_VALUES / "values-common.yaml"), "-f", str(HELM_VALUES / f"values-{variant}.yaml")]


def _run(helm: tuple[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm[0], *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, helm: tuple[str, Path]) -> tuple[str, list[dict[str, Any]]]:
    variant = request.param
    result = _run(helm, "template", RELEASE, str(helm[1]), "-n", RELEASE, *_values_args(variant))
    assert result.returncode == 0, result.stderr
    return variant, [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def _airflow_cfg(docs: list[dict[str, Any]]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(_find(docs, "ConfigMap", f"{RELEASE}-config")["data"]["airflow.cfg"])
    return parser


def _pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod the release runs: workloads' templates, and the KubernetesExecutor's task pod template."""
    specs = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            specs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc["spec"]["template"]["spec"]
    pod_template = _find(docs, "ConfigMap", f"{RELEASE}-config")["data"].get("pod_template_file.yaml")
    if pod_template:
        specs["pod_template_file"] = yaml.safe_load(pod_template)["spec"]
    return specs


def _airflow_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    return [c for c in containers if any(e.get("name") == "AKKO_PROFILE" for e in c.get("env") or [])]


def test_helm_lint_passes(helm: tuple[str, Path]) -> None:
    for variant in VARIANTS:
        result = _run(helm, "lint", "--strict", str(helm[1]), "-n", RELEASE, *_values_args(variant))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


def test_the_charts_schema_is_enforced(helm: tuple[str, Path]) -> None:
    """The renders below passed the chart's values.schema.json: a wrong type is refused the same way."""
    bad = _run(
        helm,
        "template",
        RELEASE,
        str(helm[1]),
        *_values_args("celery"),
        "--set-string",
        "workers.replicas=two",
    )
    assert bad.returncode != 0 and "workers/replicas" in bad.stderr


def test_airflow_cfg_has_akkos_executor_auth_manager_bundle_and_metrics(rendered: tuple) -> None:
    variant, docs = rendered
    cfg = _airflow_cfg(docs)
    assert cfg["core"]["executor"] == VARIANTS[variant]
    assert cfg["core"]["auth_manager"] == (
        "airflow.providers.keycloak.auth_manager.keycloak_auth_manager.KeycloakAuthManager"
    )
    assert {"server_url", "realm", "client_id"} <= set(cfg["keycloak_auth_manager"])
    assert "client_secret" not in cfg["keycloak_auth_manager"]
    bundles = json.loads(cfg["dag_processor"]["dag_bundle_config_list"])
    assert bundles[0]["classpath"] == "airflow.providers.git.bundles.git.GitDagBundle"
    assert bundles[0]["kwargs"]["git_conn_id"] == "akko_git"
    assert cfg["metrics"]["statsd_on"] == "True" and cfg["metrics"]["statsd_host"] == f"{RELEASE}-statsd"
    assert cfg["openlineage"]["disabled"] == "False"
    assert (
        "akko_orchestrator.compiler.entry"
        in _find(docs, "ConfigMap", f"{RELEASE}-config")["data"]["airflow_local_settings.py"]
    )
    _find(docs, "Deployment", f"{RELEASE}-statsd")


def test_the_executor_decides_the_workers(rendered: tuple) -> None:
    variant, docs = rendered
    workers = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == f"{RELEASE}-worker"]
    redis = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == f"{RELEASE}-redis"]
    pod_template = _find(docs, "ConfigMap", f"{RELEASE}-config")["data"].get("pod_template_file.yaml")
    if variant == "celery":
        assert len(workers) == 1 and workers[0]["spec"]["replicas"] == 2 and len(redis) == 1
        worker = workers[0]["spec"]["template"]["spec"]["containers"][0]
        broker = next(e for e in worker["env"] if e["name"] == "AIRFLOW__CELERY__BROKER_URL")
        assert broker["valueFrom"]["secretKeyRef"] == {"name": "akko-airflow-broker-url", "key": "connection"}
        assert pod_template is None
    else:
        assert not workers and not redis
        assert pod_template and yaml.safe_load(pod_template)["kind"] == "Pod"


def test_every_airflow_container_has_akkos_environment_with_secrets_referenced(rendered: tuple) -> None:
    variant, docs = rendered
    specs = _pod_specs(docs)
    checked = 0
    for where, spec in specs.items():
        for container in _airflow_containers(spec):
            env = container["env"]
            names = [e["name"] for e in env]
            by_name = {e["name"]: e for e in env}
            assert by_name["AKKO_PROFILE"]["value"] == "polaris", where
            for name, (secret, key) in SECRET_ENV.items():
                assert by_name[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}, (
                    where,
                    name,
                )
            # The transport's $(AKKO_OPENLINEAGE_API_KEY) is expanded by Kubernetes only from an earlier variable.
            transport = json.loads(by_name["AIRFLOW__OPENLINEAGE__TRANSPORT"]["value"])
            assert transport["type"] == "http" and transport["endpoint"] == "api/v1/openlineage/lineage"
            assert transport["auth"]["apiKey"] == "$(AKKO_OPENLINEAGE_API_KEY)"
            assert names.index("AKKO_OPENLINEAGE_API_KEY") < names.index("AIRFLOW__OPENLINEAGE__TRANSPORT"), (
                where
            )
            for entry in env:
                if SENSITIVE.search(entry["name"]) and not entry["name"].startswith(
                    "AIRFLOW__KUBERNETES_SECRETS__"
                ):
                    assert "valueFrom" in entry and "value" not in entry, (where, entry["name"])
            checked += 1
    expected = {
        "Deployment/akko-scheduler",
        "Deployment/akko-api-server",
        "Deployment/akko-dag-processor",
        "StatefulSet/akko-triggerer",
        "Job/akko-run-airflow-migrations",
    }
    expected |= {"pod_template_file"} if variant == "kubernetes" else {"StatefulSet/akko-worker"}
    assert expected <= specs.keys() and checked >= len(expected)
    for where in expected:
        assert _airflow_containers(specs[where]), f"{where} runs without AKKO's environment"


def test_no_secret_is_created_or_inlined_for_what_akko_references(rendered: tuple) -> None:
    _, docs = rendered
    referenced = {secret for secret, _ in SECRET_ENV.values()} | {"akko-airflow-broker-url"}
    created = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    assert not referenced & created  # pre-created by the operator, never generated from values
    assert created <= {
        f"{RELEASE}-broker-url"
    }  # the chart's own, always rendered (unused by KubernetesExecutor)
    text = yaml.safe_dump_all(docs)
    assert "postgresql://" not in text and "redis://:" not in text
