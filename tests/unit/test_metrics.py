"""Metrics (observability/): akko.yaml `metrics:` as Airflow's [metrics] settings, the names AKKO's metrics take
(and that deploy/statsd/akko-mappings.yaml maps every one of them), nothing sent and nothing raised when metrics
are off, and the facts of real writes (pyiceberg, DuckDB checks) received over UDP through Airflow's own StatsD
client. tests/e2e/test_metrics.py runs the demo through Airflow with the same receiver."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import AkkoError, ConfigError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.local_airflow.environment import airflow_environment
from akko_orchestrator.observability import metrics
from akko_orchestrator.observability.settings import start_airflow_stats
from akko_orchestrator.quality.report import CheckReport, CheckResult, ChecksFailed
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.publish import guarded_write, write_arrow
from akko_orchestrator.spec.models import Check, Output
from tests.fixtures.statsd import StatsdReceiver

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "deploy" / "statsd" / "akko-mappings.yaml"
ORDERS = Output(table="shop.orders", mode="append")


def no_airflow_metrics_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AIRFLOW__METRICS__"):
            monkeypatch.delenv(key)


def project_with(tmp_path: Path, metrics_yaml: str, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "akko.yaml").write_text(
        f"lakehouse: lake\nprofile: local\nprofiles:\n  local: {{}}\n{metrics_yaml}"
    )
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / ".akko"))
    return load_project(tmp_path)


def metric_env(environment: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environment.items() if k.startswith("AIRFLOW__METRICS__")}


# -- settings -----------------------------------------------------------------------------------------------------


def test_metrics_turn_on_airflows_statsd_for_every_airflow_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKKO_TEST_STATSD_HOST", "statsd.example.org")
    project = project_with(
        tmp_path,
        "metrics:\n  statsd:\n    host: ${AKKO_TEST_STATSD_HOST}\n    port: ${NO_SUCH_VAR:-9125}\n",
        monkeypatch,
    )
    assert metric_env(airflow_environment(project)) == {  # what run/demo, dev and the stack's Airflow all get
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "statsd.example.org",
        "AIRFLOW__METRICS__STATSD_PORT": "9125",
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }


@pytest.mark.parametrize("section", ["", "metrics: {}\n", "metrics:\n  statsd: off\n"])
def test_without_statsd_airflows_metrics_are_left_as_configured(
    section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert metric_env(airflow_environment(project_with(tmp_path, section, monkeypatch))) == {}


def test_bad_metrics_settings_name_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ConfigError, match=r"metrics\.statsd\.port: Input should be less than or equal to 65535"
    ):
        project_with(tmp_path, "metrics:\n  statsd: {port: 70000}\n", monkeypatch)
    with pytest.raises(ConfigError, match=r"metrics\.statsd\.hots: Extra inputs are not permitted"):
        project_with(tmp_path, "metrics:\n  statsd: {hots: x}\n", monkeypatch)


# -- names --------------------------------------------------------------------------------------------------------


def test_every_name_component_is_one_statsd_component() -> None:
    assert metrics.metric_name("rows_written", "p", "demo", "sales") == "akko.rows_written.p.demo.sales"
    assert (
        metrics.metric_name("steps", "p", "marts.stg_orders", "success")
        == "akko.steps.p.marts__stg_orders.success"
    )
    assert metrics.component("a b/c:d|e@f") == "a_b_c_d_e_f"  # nothing StatsD's line format would split on
    assert metrics.component("") == "_"


def emitted_names() -> list[str]:
    """A name of every metric AKKO sends (as the emitting functions build them), under Airflow's prefix."""
    sent: list[str] = []
    original = metrics._send
    metrics._send = lambda kind, stat, value: sent.append(f"airflow.{stat}")  # type: ignore[assignment]
    try:
        ctx = StepContext.__new__(StepContext)
        ctx.pipeline_id = "pipe"
        report = CheckReport(
            "ns.tbl", 1, [CheckResult("unique_id", "unique", "error", False, 1, "1 duplicate", "unique id")]
        )
        metrics.commit_conflict(ctx, "ns.tbl", "replayed")
        metrics.checks_judged(ctx, report)
        metrics.step_finished("pipe", "grp.task", 1.5, "success")
        for name in (
            "rows_written",
            "bytes_written",
            "files_added",
            "commits",
        ):  # table_written's, when enabled
            sent.append("airflow." + metrics.metric_name(name, "pipe", "ns", "tbl"))
    finally:
        metrics._send = original  # type: ignore[assignment]
    return sent


def test_the_statsd_exporter_mappings_turn_every_name_into_labels() -> None:
    mappings = yaml.safe_load(MAPPINGS.read_text())["mappings"]
    names = emitted_names()
    assert len(names) == 10
    for name in names:
        # statsd_exporter's glob: `*` is one dot-free component, the first matching mapping wins
        matching = [
            m for m in mappings if re.fullmatch(re.escape(m["match"]).replace(r"\*", r"([^.]+)"), name)
        ]
        assert len(matching) == 1, name
        mapping = matching[0]
        components = len(re.fullmatch(re.escape(mapping["match"]).replace(r"\*", r"([^.]+)"), name).groups())
        assert sorted(mapping["labels"].values()) == [f"${i}" for i in range(1, components + 1)], name
        assert mapping["name"].startswith("akko_") and mapping["help"]


# -- sending ------------------------------------------------------------------------------------------------------


@pytest.fixture
def airflow_stats(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Airflow's stats client configured from the environment as it is; reset to the clean environment after."""
    no_airflow_metrics_env(monkeypatch)
    yield
    monkeypatch.undo()
    start_airflow_stats()


@pytest.fixture
def ctx(project_dir: Path) -> Iterator[StepContext]:
    context = StepContext(
        load_project(project_dir), pipeline_id="orders_pipe", step_id="load", run_id="run-1"
    )
    yield context
    context.close()


def run(ctx: StepContext, run_id: str) -> StepContext:
    """The same step in another Airflow run (a run that already published writes nothing again)."""
    return StepContext(ctx.project, pipeline_id=ctx.pipeline_id, step_id=ctx.step_id, run_id=run_id)


def orders(*ids: int) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "region": ["EU"] * len(ids)})


def test_with_metrics_off_nothing_is_sent_and_nothing_fails(
    airflow_stats: None, ctx: StepContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_airflow_stats()  # [metrics] statsd_on is False by default
    with StatsdReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(receiver.port))
        assert not metrics.enabled()
        write_arrow(ctx, ORDERS, [Check(not_null=["id"])], orders(1, 2))
        metrics.step_finished("p", "s", 0.1, "success")
        assert not receiver.wait_for(lambda r: bool(r.received()), timeout=0.5)
    # a receiver that is not there (or a host that does not resolve) costs a step nothing either
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "no-such-host.invalid")
    start_airflow_stats()
    metrics.step_finished("p", "s", 0.1, "success")
    write_arrow(ctx, ORDERS, [], orders(3))


def test_writes_conflicts_and_checks_reach_the_receiver_through_airflows_client(
    airflow_stats: None, ctx: StepContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StatsdReceiver() as receiver:
        for key, value in {
            "STATSD_ON": "True",
            "STATSD_HOST": "127.0.0.1",
            "STATSD_PORT": str(receiver.port),
        }.items():
            monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
        start_airflow_stats()
        name = "airflow.akko.{}.orders_pipe.shop.orders".format

        # a write without checks: one commit on main
        written = write_arrow(ctx, ORDERS, [], orders(1, 2, 3))
        snapshot = ctx.catalog.load_table("shop.orders").metadata.snapshot_by_id(written.snapshot_id)
        summary = snapshot.summary.additional_properties
        assert receiver.wait_for(lambda r: r.total(name("files_added")) >= 1)
        assert receiver.total(name("rows_written")) == 3 == int(summary["added-records"])
        assert receiver.total(name("bytes_written")) == int(summary["added-files-size"]) > 0
        assert receiver.total(name("files_added")) == int(summary["added-data-files"])
        assert receiver.total(name("commits")) == 1

        # another writer lands between our audited write and its publish: replayed on top
        other = StepContext(ctx.project, pipeline_id="other", step_id="fix", run_id="run-o")
        calls: list[str | None] = []
        ctx = run(ctx, "run-2")

        def racing(branch: str | None):
            result = write_table(ctx.catalog, ORDERS, orders(4), ctx.snapshot_properties, branch)
            if not calls:
                write_table(other.catalog, ORDERS, orders(5), other.snapshot_properties)
            calls.append(branch)
            return result

        guarded_write(ctx, ORDERS, [Check(unique=["id"])], racing)
        assert receiver.wait_for(lambda r: r.total(name("commits")) == 2)
        assert receiver.total(name("commit_conflicts") + ".replayed") == 1
        assert receiver.total(name("rows_written")) == 4
        assert receiver.total(name("checks_run")) == 2  # judged twice: before and after the replay

        # an overwrite is not replayed over the other writer: a failed conflict
        overwrite = Output(table="shop.orders", mode="overwrite")
        ctx = run(ctx, "run-3")

        def clobbered(branch: str | None):
            result = write_table(ctx.catalog, overwrite, orders(8), ctx.snapshot_properties, branch)
            write_table(other.catalog, ORDERS, orders(9), other.snapshot_properties)
            return result

        with pytest.raises(AkkoError, match="not replayed"):
            guarded_write(ctx, overwrite, [Check(not_null=["id"])], clobbered)
        assert receiver.wait_for(lambda r: r.total(name("commit_conflicts") + ".failed") == 1)

        # a failing error check and a failing warning: counted per severity, the publish blocked
        checks = [Check(unique=["id"]), Check(name="few_rows", severity="warn", row_count={"max": 1})]
        with pytest.raises(ChecksFailed):
            write_arrow(run(ctx, "run-4"), ORDERS, checks, orders(6, 6))
        assert receiver.wait_for(lambda r: r.total(name("publishes_blocked")) == 1)
        assert receiver.total(name("check_failures") + ".error.unique_id") == 1
        assert receiver.total(name("check_failures") + ".warn.few_rows") == 1
        assert receiver.total(name("commits")) == 2  # nothing more reached main
