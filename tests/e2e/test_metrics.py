"""Metrics of a real run: `akko demo --bad-rows 3` (the CLI, real Airflow, the embedded lakehouse) with akko.yaml
`metrics:` pointed at a StatsD receiver on a loopback UDP port. AKKO's metrics name the table the run published
with the rows it committed, the quality gate's failed checks and the write it kept off `main`, and the steps;
Airflow's own metrics of the same run arrive at the same receiver.

If a Prometheus statsd_exporter binary is at hand (AKKO_STATSD_EXPORTER, `statsd_exporter` on PATH, or
~/go/bin/statsd_exporter from `go install github.com/prometheus/statsd_exporter@v0.28.0`, the version of the
Helm chart's image), the receiver relays every datagram to it, run with deploy/statsd/akko-mappings.yaml, and
its /metrics must show the labeled series; without one that test is skipped. One pipeline run in all (~15 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.local_airflow.api_client import free_port
from tests.conftest import copy_project
from tests.fixtures.cli import akko, cli_env
from tests.fixtures.statsd import LOOPBACK, StatsdReceiver

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "deploy" / "statsd" / "akko-mappings.yaml"
PIPELINE = "akko_e2e_pipeline"
AKKO = f"airflow.akko.{{}}.{PIPELINE}.{{}}".format  # metric, then the rest of the name
FAILED_CHECKS = ("unique_sale_id", "accepted_values_region", "range_quantity")  # what 3 bad rows break


def exporter_binary() -> str | None:
    for candidate in (
        os.environ.get("AKKO_STATSD_EXPORTER"),
        shutil.which("statsd_exporter"),
        str(Path.home() / "go" / "bin" / "statsd_exporter"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@dataclass
class Observed:
    root: Path
    receiver: StatsdReceiver
    rows: dict[str, int]  # table -> the rows on main after the run
    run: subprocess.CompletedProcess[str]
    exporter_url: str | None


def catalog_of(root: Path) -> Any:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AKKO_STATE_DIR", str(root / ".akko"))
        return open_catalog(load_project(root))


def rows_on_main(root: Path) -> dict[str, int]:
    catalog = catalog_of(root)
    return {t: len(catalog.load_table(t).scan().to_arrow()) for t in ("demo.raw_sales", "demo.sales")}


class Exporter:
    """statsd_exporter on loopback ports, with AKKO's mappings."""

    def __init__(self, binary: str, log: Path):
        self.udp, self.web = free_port(), free_port()
        self.url = f"http://{LOOPBACK}:{self.web}/metrics"
        self.process = subprocess.Popen(
            [
                binary,
                f"--statsd.listen-udp={LOOPBACK}:{self.udp}",
                "--statsd.listen-tcp=",
                f"--web.listen-address={LOOPBACK}:{self.web}",
                f"--statsd.mapping-config={MAPPINGS}",
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"statsd_exporter did not start: {log.read_text()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    root = copy_project(tmp_path_factory.mktemp("metrics") / "project")
    binary = exporter_binary()
    exporter = Exporter(binary, root.parent / "statsd_exporter.log") if binary else None
    try:
        with StatsdReceiver(relay_to=(LOOPBACK, exporter.udp) if exporter else None) as receiver:
            with (root / "akko.yaml").open("a") as config:
                config.write(f"\nmetrics:\n  statsd:\n    host: {LOOPBACK}\n    port: {receiver.port}\n")
            run = akko("demo", "--bad-rows", "3", env=cli_env(root, root / ".akko"))
            receiver.wait_for(lambda r: AKKO("steps", "transform_sales.failed") in r.names(), timeout=2)
            yield Observed(root, receiver, rows_on_main(root), run, exporter.url if exporter else None)
    finally:
        if exporter:
            exporter.stop()


def test_a_demo_run_reports_rows_checks_and_steps_with_airflows_own_metrics(observed: Observed) -> None:
    out = observed.run.stdout + observed.run.stderr
    assert "transform_sales failed on its checks" in observed.run.stdout, out
    received = observed.receiver
    # rows: what the run committed to main; the gate kept demo.sales as it was (created empty)
    assert observed.rows == {"demo.raw_sales": 15, "demo.sales": 0}
    assert received.total(AKKO("rows_written", "demo.raw_sales")) == 15
    assert received.total(AKKO("commits", "demo.raw_sales")) == 1
    snapshot = catalog_of(observed.root).load_table("demo.raw_sales").current_snapshot()
    summary = snapshot.summary.additional_properties
    assert received.total(AKKO("files_added", "demo.raw_sales")) == int(summary["added-data-files"]) >= 1
    assert received.total(AKKO("bytes_written", "demo.raw_sales")) == int(summary["added-files-size"]) > 0
    assert AKKO("rows_written", "demo.sales") not in received.names()
    assert AKKO("commits", "demo.sales") not in received.names()
    # the quality gate: the checks judged, the three that failed, the publish it blocked
    assert received.total(AKKO("checks_run", "demo.raw_sales")) == 2
    assert received.total(AKKO("checks_run", "demo.sales")) == 7
    for check in FAILED_CHECKS:
        assert received.total(AKKO("check_failures", f"demo.sales.error.{check}")) == 1
    assert not [name for name in received.names() if ".warn." in name]  # no_future_sales (warn) passed
    assert received.total(AKKO("publishes_blocked", "demo.sales")) == 1
    assert received.total(AKKO("publishes_blocked", "demo.raw_sales")) == 0
    # steps: each task's outcome and duration (a fanned-out ingest's tasks as `<step>__<task>`)
    assert received.total(AKKO("steps", "land_sales__commit.success")) == 1
    assert (
        received.total(AKKO("steps", "transform_sales.failed")) == 1
    )  # not retried: the same checks would fail
    durations = [
        line for line in received.received() if line.name == AKKO("step_duration", "transform_sales")
    ]
    assert len(durations) == 1 and durations[0].kind == "ms" and durations[0].value > 0
    # Airflow's own metrics of the same run, at the same receiver
    assert received.total(f"airflow.ti.finish.{PIPELINE}.generate_sales.success") == 1
    assert received.total(f"airflow.ti.finish.{PIPELINE}.transform_sales.failed") == 1
    assert f"airflow.dagrun.duration.failed.{PIPELINE}" in received.names()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_statsd_exporter_turns_them_into_labeled_prometheus_series(observed: Observed) -> None:
    if observed.exporter_url is None:
        pytest.skip(
            "no statsd_exporter binary: `go install github.com/prometheus/statsd_exporter@v0.28.0` (or set "
            "AKKO_STATSD_EXPORTER to one)"
        )
    table = (("namespace", "demo"), ("pipeline", PIPELINE))
    expected = {
        ("akko_rows_written_total", (*table, ("table", "raw_sales"))): 15,
        ("akko_publishes_blocked_total", (*table, ("table", "sales"))): 1,
        (
            "akko_check_failures_total",
            (("check", "unique_sale_id"), *table, ("severity", "error"), ("table", "sales")),
        ): 1,
    }
    deadline = time.monotonic() + 5
    series = scrape(observed.exporter_url)
    while any(series.get(key) != value for key, value in expected.items()) and time.monotonic() < deadline:
        time.sleep(0.2)  # the relay is UDP too: give its last datagrams a moment
        series = scrape(observed.exporter_url)
    for key, value in expected.items():
        assert series.get(key) == value, key
    steps = {
        dict(labels).get("step") for name, labels in series if name == "akko_step_duration_seconds_count"
    }
    assert "transform_sales" in steps
    assert any(name.startswith("airflow_ti_finish") for name, _ in series)  # Airflow's (unmapped here)
