"""akko.yaml's `lineage:` as Airflow's [openlineage] settings (lineage/settings.py), the dataset names
(lineage/naming.py) and the graph `akko lineage` reads from the local event log (lineage/graph.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.lineage import naming
from akko_orchestrator.lineage.graph import display, read_graph, walk
from akko_orchestrator.lineage.settings import airflow_settings, event_log


def project_with(tmp_path: Path, lineage: str) -> Path:
    (tmp_path / "akko.yaml").write_text(
        f"lakehouse: lake\nprofile: local\nprofiles:\n  local: {{}}\n{lineage}"
    )
    return tmp_path


def settings(tmp_path: Path, lineage: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    return airflow_settings(load_project(project_with(tmp_path, lineage)))


def test_by_default_events_go_to_the_local_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = settings(tmp_path, "", monkeypatch)
    transport = json.loads(found["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport == {
        "type": "file",
        "log_file_path": str(tmp_path / ".akko/lineage/events.jsonl"),
        "append": True,
    }
    assert found["AIRFLOW__OPENLINEAGE__DISABLED"] == "False"
    assert found["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "akko"
    assert found["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] == "True"


def test_http_is_composed_with_the_log_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OM_JWT", "s3cret-token")
    lineage = (
        "lineage:\n  transport: http\n  url: http://om:8585/\n  api_key: {env: OM_JWT}\n  timeout: 2\n"
        "  namespace: akko-prod\n"
    )
    found = settings(tmp_path, lineage, monkeypatch)
    transport = json.loads(found["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport["type"] == "composite" and transport["continue_on_failure"] is True
    http = transport["transports"]["consumer"]
    assert http["url"] == "http://om:8585" and http["endpoint"] == "api/v1/openlineage/lineage"
    assert http["timeout"] == 2.0 and http["retry"]["total"] == 1
    assert http["auth"] == {"type": "api_key", "apiKey": "s3cret-token"}
    assert transport["transports"]["local"]["type"] == "file"
    assert int(found["AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT"]) <= 2 * 2 + 5
    assert found["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "akko-prod"
    assert "s3cret-token" not in (tmp_path / "akko.yaml").read_text()  # the key stays in the environment


def test_off_disables_the_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(tmp_path, "lineage: {transport: off}\n", monkeypatch) == {
        "AIRFLOW__OPENLINEAGE__DISABLED": "True"
    }


def test_every_airflow_akko_starts_gets_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`akko run`/`demo` (environment.apply), `akko dev`'s components and the stack's Celery Airflow all build on
    airflow_environment(): `akko dev` once ran without the project's OpenLineage settings."""
    from akko_orchestrator.local_airflow.dev import dev_environment
    from akko_orchestrator.local_airflow.environment import airflow_environment

    for key in ("AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__NAMESPACE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    project = load_project(project_with(tmp_path, "lineage: {transport: console, namespace: akko-dev}\n"))
    for env in (airflow_environment(project), dev_environment(project, "127.0.0.1", 18080)):
        assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "akko-dev"
        assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["transports"]["consumer"] == {
            "type": "console"
        }


def test_http_needs_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="lineage transport `http` needs `url`"):
        settings(tmp_path, "lineage: {transport: http}\n", monkeypatch)


def test_the_log_can_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    project = load_project(project_with(tmp_path, "lineage: {log: lineage/run.jsonl}\n"))
    assert event_log(project) == tmp_path / "lineage" / "run.jsonl"


def test_dataset_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    project = load_project(project_with(tmp_path, ""))
    assert naming.table_namespace(project) == "iceberg://lake"
    assert naming.table_name(project, "demo.sales") == "iceberg.demo.sales"
    assert naming.file_dataset("/data/x.csv") == ("file", "/data/x.csv")
    assert naming.file_dataset("file:///data/x.csv") == ("file", "/data/x.csv")
    assert naming.file_dataset("s3://bucket/raw/x.csv") == ("s3://bucket", "/raw/x.csv")
    assert naming.file_dataset("s3a://bucket/raw/x.csv") == ("s3://bucket", "/raw/x.csv")
    assert naming.http_dataset("https://api.example.org:8443/v1/rows?x=1") == (
        "https://api.example.org:8443",
        "/v1/rows",
    )
    shared = load_project(project_with(tmp_path, "lineage: {datasets: 'trino://trino.akko:8080/'}\n"))
    assert naming.table_namespace(shared) == "trino://trino.akko:8080"


def _event(job: str, time: str, inputs: list[dict], outputs: list[dict], kind: str = "COMPLETE") -> str:
    return json.dumps(
        {
            "eventType": kind,
            "eventTime": time,
            "job": {"namespace": "akko", "name": job},
            "inputs": inputs,
            "outputs": outputs,
        }
    )


def _table(name: str, columns: dict[str, list[tuple[str, str]]] | None = None) -> dict:
    dataset: dict = {"namespace": "iceberg://lake", "name": f"iceberg.{name}"}
    if columns:
        fields = {
            out: {
                "inputFields": [
                    {"namespace": "iceberg://lake", "name": f"iceberg.{t}", "field": c} for t, c in src
                ]
            }
            for out, src in columns.items()
        }
        dataset["facets"] = {"columnLineage": {"fields": fields}}
    return dataset


def test_the_graph_follows_each_jobs_latest_completion(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    lines = [
        _event("p.old", "2026-01-01T00:00:00Z", [_table("demo.gone")], [_table("demo.sales")]),
        _event(
            "p.old",
            "2026-01-02T00:00:00Z",
            [_table("demo.raw")],
            [_table("demo.sales", {"revenue": [("demo.raw", "qty")]})],
        ),
        _event("p.start", "2026-01-03T00:00:00Z", [_table("demo.x")], [_table("demo.y")], kind="START"),
        _event(
            "q.mart",
            "2026-01-02T00:00:00Z",
            [_table("demo.sales")],
            [_table("marts.m", {"rev": [("demo.sales", "revenue")]})],
        ),
        "{not json: a line cut by a kill",
        _event(
            "r.file",
            "2026-01-02T00:00:00Z",
            [{"namespace": "file", "name": "/d/x.csv"}],
            [_table("demo.raw")],
        ),
    ]
    log.write_text("\n".join(lines) + "\n")
    graph = read_graph(log)
    assert graph.upstream["demo.sales"] == {"demo.raw"}  # the older run's edge from demo.gone is superseded
    assert "demo.y" not in graph.datasets  # START events do not make edges
    assert walk(graph.upstream, "marts.m") == [("demo.sales", [("demo.raw", [("/d/x.csv", [])])])]
    assert walk(graph.columns_up, ("marts.m", "rev")) == [
        (("demo.sales", "revenue"), [(("demo.raw", "qty"), [])])
    ]
    assert walk(graph.columns_down, ("demo.raw", "qty")) == [
        (("demo.sales", "revenue"), [(("marts.m", "rev"), [])])
    ]
    assert graph.jobs["demo.sales"] == {"p.old"}
    assert display({"namespace": "trino://t:8080", "name": "iceberg.demo.sales"}) == "demo.sales"
    assert display({"namespace": "https://api:1", "name": "/rows"}) == "https://api:1/rows"
