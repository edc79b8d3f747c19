"""Alerts and deadlines: rules (spec and akko.yaml, merged), located akko.yaml errors, what the DAG carries
(failure callbacks, check-warning targets, a deadline alert, all serialized the same on every parse), deadline
times, and messages sent by the real Slack and SMTP providers to loopback receivers."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from akko_orchestrator.alerts.deadline import next_time_of_day
from akko_orchestrator.alerts.messages import failure_message, warning_message
from akko_orchestrator.alerts.notify import send, send_check_warnings
from akko_orchestrator.config.alerts import project_alert_rules
from akko_orchestrator.errors import SpecError
from akko_orchestrator.spec.alerts import AlertRule, effective_rules, targets_for
from tests.conftest import REPO
from tests.fixtures.alert_receivers import WEBHOOK_PATH, slack_receiver, smtp_receiver

SPEC = REPO / "pipelines" / "akko_e2e_pipeline.yaml"


def rule(on: list[str], **target: object) -> AlertRule:
    return AlertRule.model_validate({"on": on, **target})


def test_a_spec_rule_replaces_the_project_rule_of_its_target_and_on_empty_silences_it() -> None:
    project = [
        rule(["failure"], slack={"conn_id": "team_slack"}),
        rule(["failure"], email={"to": "ops@example.com"}),
    ]
    spec = [
        rule(["failure", "check_warning"], slack={"conn_id": "team_slack"}),  # same target: replaces
        rule([], email={"to": ["ops@example.com"]}),  # silences the project's e-mail
        rule(["deadline_missed"], slack={"conn_id": "oncall"}),  # a new target: added
    ]
    merged = effective_rules(project, spec)
    assert [(r.target_key, r.on) for r in merged] == [
        (("slack", "team_slack"), ["failure", "check_warning"]),
        (("slack", "oncall"), ["deadline_missed"]),
    ]
    assert targets_for(merged, "check_warning") == [{"slack": "team_slack"}]
    assert targets_for(effective_rules(project, []), "failure")[1] == {
        "email": ["ops@example.com"],
        "conn_id": "smtp_default",
    }


def test_akko_yaml_alerts_read_as_yaml_1_1_and_located_when_wrong(tmp_path: Path) -> None:
    from akko_orchestrator.config.project import load_project

    akko_yaml = tmp_path / "akko.yaml"
    akko_yaml.write_text("lakehouse: akko\nalerts:\n  - on: [failure]\n    slack: {conn_id: akko_slack}\n")
    assert load_project(tmp_path).config.alerts == [rule(["failure"], slack={"conn_id": "akko_slack"})]
    akko_yaml.write_text(
        "lakehouse: akko\nalerts:\n  - on: [falure]\n    slack: {conn_id: akko_slack}\n  - on: [failure]\n"
        "    teams: {conn_id: x}\n"
    )
    import yaml

    raw = yaml.safe_load(akko_yaml.read_text())["alerts"]  # what parse time reads: `on` is True here
    with pytest.raises(SpecError) as caught:
        project_alert_rules(raw, akko_yaml)
    with pytest.raises(SpecError) as loading:  # `akko validate` and every command reading the project
        load_project(tmp_path)
    assert str(loading.value) == str(caught.value)
    assert str(caught.value).splitlines() == [
        "akko.yaml:3:10: alerts[0].on[0]: 'falure' is not allowed; expected 'failure', 'check_warning' or "
        "'deadline_missed' (did you mean `failure`?)",
        "akko.yaml:6:5: alerts[1].teams: unknown field (allowed: email, on, slack)",
    ]


def build(project_rules: list[AlertRule], deadline: dict[str, str] | None = None):
    from akko_orchestrator.compiler.dag_builder import build_dag
    from akko_orchestrator.compiler.entry import compile_plan
    from akko_orchestrator.spec.alerts import Deadline

    plan = compile_plan(SPEC, REPO)
    if deadline is not None:
        plan.pipeline.__dict__["deadline"] = Deadline.model_validate(deadline)  # as if the spec said so
    return build_dag(plan, str(SPEC), "akko", project_rules)


def serialized(dag) -> str:
    from airflow.serialization.serialized_objects import DagSerialization

    return json.dumps(DagSerialization.to_dict(dag), sort_keys=True, default=str)


def test_the_dag_carries_callbacks_targets_and_a_deadline_serialized_the_same_every_time() -> None:
    rules = [
        rule(["failure", "check_warning", "deadline_missed"], slack={"conn_id": "akko_slack"}),
        rule(["failure"], email={"to": ["data-team@example.com"]}),
    ]
    dag = build(rules, {"by": "06:00"})
    for task in dag.tasks:
        [callback] = task.on_failure_callback
        assert callback.targets == [
            {"slack": "akko_slack"},
            {"email": ["data-team@example.com"], "conn_id": "smtp_default"},
        ]
    assert dag.get_task("transform_sales").warning_targets == [{"slack": "akko_slack"}]
    first = serialized(dag)
    assert first == serialized(build(rules, {"by": "06:00"}))  # a new parse: no new DAG version
    assert "0x" not in first and "FailureNotifier" not in first  # callbacks are not serialized, only flagged
    [alert] = json.loads(first)["dag"]["deadline"]
    assert alert["reference"] == {
        "reference_type": "TimeOfDayDeadline",
        "time": "06:00",
        "__class_path": "akko_orchestrator.alerts.deadline.TimeOfDayDeadline",
    }
    assert alert["callback"]["__data__"] == {
        "path": "akko_orchestrator.alerts.notify.deadline_missed",
        "kwargs": {
            "pipeline": "akko_e2e_pipeline",
            "deadline": "by 06:00 UTC",
            "tables": ["demo.raw_sales", "demo.sales"],
            "targets": [{"slack": "akko_slack"}],
        },
    }
    within = json.loads(serialized(build(rules, {"within": "2h"})))["dag"]["deadline"][0]
    assert within["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    assert within["interval"]["__data__"] == 7200.0
    # without a target for deadline_missed, no deadline alert; without rules, no callback
    assert build([rule(["failure"], slack={"conn_id": "s"})], {"by": "06:00"}).deadline is None
    assert all(not t.on_failure_callback for t in build([]).tasks)


def test_by_is_the_next_time_of_day_at_or_after_the_run() -> None:
    utc = dt.UTC
    assert next_time_of_day(dt.datetime(2026, 12, 6, 2, 0, tzinfo=utc), "06:00") == dt.datetime(
        2026, 12, 6, 6, 0, tzinfo=utc
    )
    assert next_time_of_day(dt.datetime(2026, 12, 6, 6, 0, tzinfo=utc), "06:00") == dt.datetime(
        2026, 12, 6, 6, 0, tzinfo=utc
    )
    assert next_time_of_day(dt.datetime(2026, 12, 6, 7, 30, tzinfo=utc), "06:00") == dt.datetime(
        2026, 12, 7, 6, 0, tzinfo=utc
    )
    paris = dt.timezone(dt.timedelta(hours=1))
    assert next_time_of_day(dt.datetime(2026, 12, 6, 6, 30, tzinfo=paris), "06:00") == dt.datetime(
        2026, 12, 6, 6, 0, tzinfo=utc
    )


def failure_context(error: BaseException) -> dict[str, object]:
    ti = SimpleNamespace(
        task_id="transform_sales", try_number=2, run_id="manual__1", log_url="http://airflow:8080/dags/x/log"
    )
    task = SimpleNamespace(akko_step="transform_sales", planned=SimpleNamespace(tables=("demo.sales",)))
    return {"ti": ti, "task": task, "run_id": "manual__1", "exception": error}


def test_slack_and_email_through_the_providers_to_loopback_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    with slack_receiver() as slack, smtp_receiver() as smtp:
        monkeypatch.setenv("AIRFLOW_CONN_AKKO_SLACK", slack.connection())
        monkeypatch.setenv("AIRFLOW_CONN_AKKO_SMTP", smtp.connection())
        targets = [
            {"slack": "akko_slack"},
            {"email": ["data-team@example.com"], "conn_id": "akko_smtp"},
        ]
        message = failure_message("sales", failure_context(ValueError("bad {{ conn.password }} <b>")))
        assert send(targets, message) == 2
        [posted] = slack.wait(1)
        [(sender, recipients, mail)] = smtp.wait(1)
    assert slack.paths == [WEBHOOK_PATH]
    assert posted["text"].splitlines() == [
        "AKKO alert: sales failed",
        "step: transform_sales (task transform_sales, try 2)",
        "run: manual__1",
        "tables: demo.sales",
        "error: ValueError: bad {{ conn.password }} <b>",  # plain text: never rendered as a template
        "log: http://airflow:8080/dags/x/log",
    ]
    assert (sender, recipients) == ("akko@example.com", ["data-team@example.com"])
    assert mail["Subject"] == "AKKO: pipeline sales failed at step transform_sales"
    html = (
        next(p for p in mail.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    )
    assert "error: ValueError: bad {{ conn.password }} &lt;b&gt;" in html


def test_a_target_that_cannot_be_reached_is_logged_and_the_others_still_get_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with slack_receiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_AKKO_SLACK", slack.connection())
        monkeypatch.setenv(
            "AIRFLOW_CONN_DEAD_SMTP",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": 1,
                    "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 2},
                }
            ),
        )
        summary = {
            "table": "demo.sales",
            "warned": ["enough_sales"],
            "results": [
                {"name": "enough_sales", "status": "warn", "observed": "12 rows"},
                {"name": "unique_sale_id", "status": "pass", "observed": "0 duplicate"},
            ],
        }
        targets = [{"email": ["x@example.com"], "conn_id": "dead_smtp"}, {"slack": "akko_slack"}]
        with caplog.at_level(logging.WARNING):
            sent = send_check_warnings(
                "sales", "transform_sales", {"checks": summary}, targets, {"run_id": "r1"}
            )
        assert sent == 1
        [posted] = slack.wait(1)
    assert posted["text"].splitlines() == [
        "AKKO alert: sales: check warnings on demo.sales: enough_sales",
        "step: transform_sales",
        "run: r1",
        "table: demo.sales (published)",
        "warning: enough_sales: 12 rows",
    ]
    assert "alert not sent to e-mail to x@example.com (connection dead_smtp)" in caplog.text
    assert "SECRETTOKEN" not in caplog.text
    assert warning_message("p", "s", "r", {"table": "t", "results": []}).subject.startswith("AKKO: 0 check")
