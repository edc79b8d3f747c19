"""Alerts through real Airflow on the embedded lakehouse, received by loopback Slack and SMTP servers (no
network): the demo project sends failures, check warnings and its missed deadline to Slack (akko.yaml) and to
e-mail (the spec), through Airflow connections given in the environment, as a user would.

One `akko demo --bad-rows 3` run (~15 s): land_sales publishes demo.raw_sales with a `warn` check failing
(check-warning alerts), then transform_sales fails on its checks (the Done-when: a failed demo run sends a Slack
alert). A missed deadline needs Airflow's scheduler and triggerer: rather than waiting until 06:00 UTC,
fire_deadline.py triggers a run and runs their steps on its real `Deadline` rows (see it): the pipeline's deadline
and two table deadlines, one of a table the run published (nothing sent) and one of a table it did not.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from akko_orchestrator.alerts.deadline import next_time_of_day
from tests.conftest import copy_project
from tests.fixtures.alert_receivers import (
    WEBHOOK_PATH,
    SlackReceiver,
    SmtpReceiver,
    slack_receiver,
    smtp_receiver,
)
from tests.fixtures.cli import akko, cli_env

pytestmark = pytest.mark.e2e
PIPELINE = "akko_e2e_pipeline"
AKKO_YAML_ALERTS = """
alerts:
  - on: [failure, check_warning, deadline_missed]
    slack: {conn_id: akko_slack}
"""
SPEC_ALERTS = """alerts:
  - on: [failure, check_warning]
    email: {to: [data-team@example.com], conn_id: akko_smtp}
deadline:
  - {by: "06:00"}
  - {by: "06:00", table: demo.raw_sales}
  - {within: 1h, table: demo.sales}
"""
WARN_CHECK = """      - row_count: {min: 1000}
        name: enough_sales
        severity: warn
"""


def demo_project(root: Path) -> Path:
    copy_project(root)
    (root / "akko.yaml").write_text((root / "akko.yaml").read_text() + AKKO_YAML_ALERTS)
    spec = root / "pipelines" / f"{PIPELINE}.yaml"
    text = spec.read_text().replace("\nsteps:\n", f"\n{SPEC_ALERTS}\nsteps:\n", 1)
    raw_checks = "      - row_count: {min: 1}\n"  # land_sales' checks, on demo.raw_sales
    spec.write_text(text.replace(raw_checks, raw_checks + WARN_CHECK, 1))
    return root


@pytest.fixture(scope="module")
def receivers():
    with slack_receiver() as slack, smtp_receiver() as smtp:
        yield slack, smtp


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, receivers: tuple[SlackReceiver, SmtpReceiver]) -> dict:
    slack, smtp = receivers
    root = demo_project(tmp_path_factory.mktemp("alerts") / "project")
    env = cli_env(
        root,
        root / ".akko",
        AIRFLOW_CONN_AKKO_SLACK=slack.connection(),
        AIRFLOW_CONN_AKKO_SMTP=smtp.connection(),
    )
    bad = akko("demo", "--bad-rows", "3", env=env)
    assert bad.returncode == 0, bad.stdout + bad.stderr
    slack.wait(2), smtp.wait(2)
    warned = (about(slack.messages, "warning"), [m for m in smtp.mails if "warning" in m[2]["Subject"]])
    failed = (about(slack.messages, "failed"), [m for m in smtp.mails if "failed" in m[2]["Subject"]])
    fired = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "alerts" / "fire_deadline.py"), str(root), PIPELINE]
        + ["demo.raw_sales"],  # published by the late run: its table deadline is met
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fired.returncode == 0, fired.stdout + fired.stderr
    return {
        "root": root,
        "warned": warned,
        "failed": failed,
        "deadline": json.loads(fired.stdout.strip().splitlines()[-1]),
        "after_deadline": (slack.wait(4)[2:], smtp.mails[2:]),
        "logs": bad.stdout + bad.stderr + fired.stdout + fired.stderr,
    }


def about(messages: list[dict], word: str) -> list[dict]:
    return [m for m in messages if word in m["text"].splitlines()[0]]


def lines(message: dict) -> list[str]:
    return message["text"].splitlines()


def test_a_failed_demo_run_sends_a_slack_alert_and_an_email(runs: dict) -> None:
    [slack], [(_, to, mail)] = runs["failed"]
    text = lines(slack)
    assert text[0] == "AKKO alert: akko_e2e_pipeline failed"
    assert text[1] == "step: transform_sales (task transform_sales, try 1)"  # checks failed: no retry
    assert text[2].startswith("run: manual__")
    assert text[3] == "tables: demo.sales"
    assert text[4].startswith(
        "error: AirflowFailException: 3 check(s) failed on demo.sales: unique_sale_id, accepted_values_region, "
        "range_quantity. The table was not changed"
    )
    assert text[-1].startswith("log: http") and "/dags/akko_e2e_pipeline/runs/manual__" in text[-1]
    assert text[-1].endswith("/tasks/transform_sales?try_number=1")
    assert to == ["data-team@example.com"]
    assert mail["Subject"] == "AKKO: pipeline akko_e2e_pipeline failed at step transform_sales"


def test_a_published_step_with_a_warn_check_failing_sends_check_warnings(runs: dict) -> None:
    [slack], [(_, to, mail)] = runs["warned"]
    text = lines(slack)
    assert text[0] == "AKKO alert: akko_e2e_pipeline: check warnings on demo.raw_sales: enough_sales"
    assert text[1] == "step: land_sales" and text[2].startswith("run: manual__")
    assert text[3:5] == ["table: demo.raw_sales (published)", "warning: enough_sales: 15 rows: below 1000"]
    assert text[5].startswith("log: http") and text[5].endswith("/tasks/land_sales.commit?try_number=1")
    assert to == ["data-team@example.com"]
    assert mail["Subject"] == "AKKO: 1 check warning(s) on demo.raw_sales (akko_e2e_pipeline)"


def test_the_missed_deadline_fires_through_airflows_deadline_path(runs: dict) -> None:
    fired = runs["deadline"]
    assert fired["run_id"] == "late_run" and fired["state"] == "queued"
    by_pipeline, by_table_published, within = fired["deadlines"]  # by alert name
    assert [d["name"] for d in fired["deadlines"]] == [
        "akko: by 06:00 UTC",
        "akko: demo.raw_sales by 06:00 UTC",
        "akko: demo.sales within 1h of the run being queued",
    ]
    expected = next_time_of_day(dt.datetime.fromisoformat(fired["run_after"]), "06:00")
    assert dt.datetime.fromisoformat(by_pipeline["deadline_time"]) == expected
    assert dt.datetime.fromisoformat(by_table_published["deadline_time"]) == expected
    for deadline in fired["deadlines"]:
        assert deadline["missed"] is True
        assert [e["state"] for e in deadline["events"]] == ["running", "success"]
        assert deadline["callback_state"] == "success"
    assert (
        by_table_published["events"][-1]["body"] == 0
    )  # demo.raw_sales was published by the run: nothing sent
    assert by_pipeline["events"][-1]["body"] == within["events"][-1]["body"] == 1  # targets reached
    messages, mails = runs["after_deadline"]
    assert mails == []  # the spec's e-mail rule is not subscribed to deadline_missed
    [run_alert] = [m for m in messages if lines(m)[0].endswith("missed its deadline")]
    text = lines(run_alert)
    assert text[0] == "AKKO alert: akko_e2e_pipeline missed its deadline"
    assert text[1] == f"deadline: by 06:00 UTC ({expected:%Y-%m-%d} 06:00 UTC)"
    assert text[2] == "run: late_run (state queued)"
    assert text[3] == "tables: demo.raw_sales, demo.sales"
    [table_alert] = about(messages, "deadline for")  # none for demo.raw_sales
    text = lines(table_alert)
    assert text[0] == "AKKO alert: akko_e2e_pipeline missed its deadline for demo.sales"
    assert text[1].startswith("deadline: demo.sales within 1h of the run being queued (")
    assert text[2:] == ["run: late_run (state queued)", "table: demo.sales (not published by this run)"]


def test_no_secret_in_any_output(runs: dict, receivers: tuple[SlackReceiver, SmtpReceiver]) -> None:
    slack, _ = receivers
    assert set(slack.paths) == {WEBHOOK_PATH}
    assert "SECRETTOKEN" not in runs["logs"]
    logs = {log: log.read_text(errors="replace") for log in (runs["root"] / ".akko").rglob("*.log")}
    assert any(
        "alert sent to Slack (connection akko_slack)" in text for text in logs.values()
    )  # the run's log
    assert [log for log, text in logs.items() if "SECRETTOKEN" in text] == []
