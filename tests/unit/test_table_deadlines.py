"""Deadlines per table: the spec's `deadline` (one or a list, a `table` per deadline) checked against the tables
the pipeline writes with located errors, each deadline compiled to its own Airflow deadline alert (serialized the
same on every parse), and the callback's answer when the catalog cannot be read: the alert goes all the same.
Whether the run published the table: on a real pyiceberg table written through AKKO's write-audit-publish here,
and through Airflow's deadline path in tests/e2e/test_alerts.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from akko_orchestrator.alerts.deadline import TABLE_CALLBACK
from akko_orchestrator.alerts.table_deadline import published_in_run, table_deadline_missed
from akko_orchestrator.errors import SpecError
from akko_orchestrator.spec.alerts import AlertRule
from tests.conftest import REPO, copy_project
from tests.fixtures.alert_receivers import slack_receiver

SPEC = REPO / "pipelines" / "akko_e2e_pipeline.yaml"
SLACK = [AlertRule.model_validate({"on": ["deadline_missed"], "slack": {"conn_id": "akko_slack"}})]


def with_deadline(root: Path, block: str) -> Path:
    spec = root / "pipelines" / SPEC.name
    spec.write_text(spec.read_text().replace("\nsteps:\n", f"\n{block}steps:\n", 1))
    return spec


def serialized(spec: Path, root: Path) -> dict:
    from airflow.serialization.serialized_objects import DagSerialization

    from akko_orchestrator.compiler.dag_builder import build_dag
    from akko_orchestrator.compiler.entry import compile_plan

    dag = build_dag(compile_plan(spec, root), str(spec), "akko", SLACK)
    return json.loads(json.dumps(DagSerialization.to_dict(dag), sort_keys=True, default=str))


def test_each_deadline_is_its_own_alert_and_a_table_deadline_carries_its_table(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    spec = with_deadline(root, 'deadline:\n  - {by: "06:00", table: demo.sales}\n  - {within: 3h}\n')
    first = serialized(spec, root)
    assert first == serialized(spec, root)  # a new parse: no new DAG version
    by_table, whole_run = first["dag"]["deadline"]
    assert by_table["name"] == "akko: demo.sales by 06:00 UTC"
    assert by_table["reference"]["reference_type"] == "TimeOfDayDeadline"
    assert by_table["callback"]["__data__"] == {
        "path": TABLE_CALLBACK,
        "kwargs": {
            "pipeline": "akko_e2e_pipeline",
            "deadline": "demo.sales by 06:00 UTC",
            "table": "demo.sales",
            "spec": str(spec),  # the callback loads the project (its catalog) from the spec's folder
            "targets": [{"slack": "akko_slack"}],
        },
    }
    assert whole_run["name"] == "akko: within 3h of the run being queued"
    assert whole_run["interval"]["__data__"] == 10800.0
    assert whole_run["callback"]["__data__"]["kwargs"]["tables"] == ["demo.raw_sales", "demo.sales"]


def test_a_table_the_pipeline_does_not_write_or_a_deadline_given_twice_is_located(tmp_path: Path) -> None:
    from akko_orchestrator.compiler.entry import compile_plan

    root = copy_project(tmp_path / "project")
    spec = with_deadline(
        root,
        'deadline:\n  - {by: "06:00", table: demo.sale}\n  - {within: 3h, table: demo.raw_sales}\n'
        '  - {within: 3h, table: demo.raw_sales}\n  - {by: "6:00"}\n',
    )
    with pytest.raises(SpecError) as caught:
        compile_plan(spec, root)
    assert str(caught.value).splitlines() == [
        "pipelines/akko_e2e_pipeline.yaml:19:10: deadline[3].by: '6:00' is not a UTC time of day (write HH:MM "
        "on 24 hours, e.g. `06:00`)"
    ]  # schema errors first, alone (not a spurious `expected a mapping` for the list form)
    spec.write_text(spec.read_text().replace('{by: "6:00"}', "{within: 1h, table: ops.audit_log}"))
    with pytest.raises(SpecError) as caught:
        compile_plan(spec, root)
    assert str(caught.value).splitlines() == [
        "pipelines/akko_e2e_pipeline.yaml:16:26: deadline[0].table: table demo.sale is not written by this "
        "pipeline: a table deadline is met by publishing it (did you mean `demo.sales`?)",
        "pipelines/akko_e2e_pipeline.yaml:18:5: deadline[2]: the same deadline as deadline[1] (demo.raw_sales "
        "within 3h of the run being queued) (remove one)",
        "pipelines/akko_e2e_pipeline.yaml:19:25: deadline[3].table: table ops.audit_log is not written by this "
        "pipeline: a table deadline is met by publishing it (tables it writes: demo.raw_sales, demo.sales)",
    ]
    spec.write_text(
        SPEC.read_text().replace("\nsteps:\n", '\ndeadline: {by: "06:00", table: demo.sale}\nsteps:\n')
    )
    with pytest.raises(SpecError, match=r"akko_e2e_pipeline.yaml:15:32: deadline.table: table demo.sale is"):
        compile_plan(spec, root)  # the single form stays valid, located the same way


def test_an_unreadable_catalog_still_sends_the_alert_saying_the_state_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_project(tmp_path / "project")
    monkeypatch.delenv("AKKO_STATE_DIR", raising=False)
    (root / ".akko").mkdir()
    (root / ".akko" / "catalog.db").write_bytes(b"not a SQLite database, " * 100)
    context = {
        "dag_run": {"dag_run_id": "scheduled__2026-12-06T02:00:00+00:00", "state": "running"},
        "deadline": {"deadline_time": "2026-12-06T06:00:00+00:00"},
    }
    with slack_receiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_AKKO_SLACK", slack.connection())
        sent = asyncio.run(
            table_deadline_missed(
                pipeline="akko_e2e_pipeline",
                deadline="demo.sales by 06:00 UTC",
                table="demo.sales",
                spec=str(root / "pipelines" / SPEC.name),
                targets=[{"slack": "akko_slack"}],
                context=context,
            )
        )
        [posted] = slack.wait(1)
    assert sent == 1
    assert posted["text"].splitlines() == [
        "AKKO alert: akko_e2e_pipeline missed its deadline for demo.sales",
        "deadline: demo.sales by 06:00 UTC (2026-12-06 06:00 UTC)",
        "run: scheduled__2026-12-06T02:00:00+00:00 (state running)",
        "table: demo.sales (state unknown: the catalog could not be read (DatabaseError))",
    ]


def test_published_means_a_snapshot_of_this_run_on_main_not_on_its_audit_branch(tmp_path: Path) -> None:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    from akko_orchestrator.lakehouse.wap import audit_branch, publish
    from akko_orchestrator.lakehouse.writer import write_table
    from akko_orchestrator.spec.models import Output

    catalog = SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=tmp_path.as_uri())
    run = {"akko.pipeline": "p", "akko.step": "s", "akko.run-id": "run-1", "akko.try-number": "1"}
    branch = audit_branch("p", "s")
    written = write_table(catalog, Output(table="demo.t"), pa.table({"id": [1]}), run, branch=branch)
    table = catalog.load_table("demo.t")  # main: the new table's empty marker; the write: on the audit branch
    assert table.current_snapshot() is not None
    assert not published_in_run(table, "p", "run-1")
    publish(catalog, "demo.t", branch, written.base_snapshot_id)
    table = catalog.load_table("demo.t")
    assert published_in_run(table, "p", "run-1")
    assert not published_in_run(table, "p", "run-2") and not published_in_run(table, "other", "run-1")
