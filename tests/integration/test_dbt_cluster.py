"""dbt steps on the cluster engines `akko stack` runs (Trino 476 through dbt-trino, the shared JDBC catalog), and
the banking fraud demo's parity between the profiles:
- `akko run banking_fraud_demo` on `local` (dbt-duckdb, DuckDB, no Java) and on `cluster` (the operational
  PostgreSQL replicated into Iceberg, dbt-trino compiling, Trino computing and writing) gives identical tables:
  same Iceberg schemas, same rows, for every model and the seed;
- on `cluster` Trino writes the models' data files (under each table's folder) and AKKO commits them with the run
  identity; no stage table is left;
- a failing dbt test on `cluster` keeps the model's table as it was and skips what depends on it;
- an unreachable Trino fails the compile task naming the endpoint, with dbt's message.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.conftest import copy_project  # noqa: E402
from tests.fixtures.cli import akko, cli_env  # noqa: E402
from tests.fixtures.stack_services import RunningStack  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
MODELS = [
    "country_risk",
    "stg_customers",
    "stg_accounts",
    "stg_transactions",
    "int_transactions_scored",
    "mart_customer_360",
    "mart_daily_transactions",
    "mart_fraud_summary",
]


class Project:
    def __init__(self, root: Path, stack: RunningStack):
        self.root, self.stack = root, stack

    def env(self) -> dict[str, str]:
        return cli_env(self.root, self.stack.state_dir)

    def run(self, *args: str) -> tuple[int, str]:
        done = akko(*args, env=self.env())
        return done.returncode, done.stdout + done.stderr

    def catalog(self, profile: str) -> Any:
        from akko_orchestrator.config.project import load_project
        from akko_orchestrator.lakehouse.catalog import open_catalog

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AKKO_STATE_DIR", str(self.stack.state_dir))
            for key, value in self.stack.env.items():
                patch.setenv(key, value)
            return open_catalog(load_project(self.root, profile=profile))


@pytest.fixture(scope="module")
def project(cluster_stack: RunningStack) -> Project:
    root = copy_project(cluster_stack.state_dir.parent / "dbt-project")
    shutil.rmtree(root / "pipelines" / "dbt" / "banking" / "target", ignore_errors=True)
    return Project(root, cluster_stack)


def _rows(table: Any) -> list[dict[str, Any]]:
    data = table.scan().to_arrow()
    return sorted(data.to_pylist(), key=lambda row: tuple(str(v) for v in row.values()))


@pytest.fixture(scope="module")
def both_runs(project: Project) -> Project:
    for profile in ("local", "cluster"):
        code, output = project.run("run", "banking_fraud_demo", "--profile", profile)
        assert code == 0, output
    return project


@pytest.mark.parametrize("model", MODELS)
def test_the_demo_gives_identical_tables_on_both_profiles(both_runs: Project, model: str) -> None:
    local = both_runs.catalog("local").load_table(f"banking.{model}")
    cluster = both_runs.catalog("cluster").load_table(f"banking.{model}")
    assert str(local.schema()) == str(cluster.schema())
    local_rows, cluster_rows = _rows(local), _rows(cluster)
    assert len(local_rows) == len(cluster_rows) > 0
    assert local_rows == cluster_rows


def test_trino_wrote_the_models_files_and_akko_committed_them(both_runs: Project) -> None:
    catalog = both_runs.catalog("cluster")
    table = catalog.load_table("banking.int_transactions_scored")
    summary = table.current_snapshot().summary.additional_properties
    assert summary["akko.pipeline"] == "banking_fraud_demo"
    assert summary["akko.step"] == "marts.int_transactions_scored"
    assert summary["akko.run-id"]
    files = [task.file.file_path for task in table.scan().plan_files()]
    assert files and all(f.startswith(f"{table.location()}/data/akko-stage-") for f in files)
    leftovers = [t for t in catalog.list_tables("banking") if "__akko_stage_" in t[-1]]
    assert leftovers == []


FAILING_TEST = "SELECT customer_id FROM {{ ref('stg_customers') }} WHERE segment <> 'NOBODY'\n"


def test_a_failing_dbt_test_on_cluster_keeps_the_table(both_runs: Project) -> None:
    catalog = both_runs.catalog("cluster")
    before = {m: catalog.load_table(f"banking.{m}").current_snapshot().snapshot_id for m in MODELS}
    broken = both_runs.root / "pipelines" / "dbt" / "banking" / "tests" / "zz_failing.sql"
    broken.write_text(FAILING_TEST)
    try:
        code, output = both_runs.run("run", "banking_fraud_demo", "--profile", "cluster")
    finally:
        broken.unlink()
    assert code == 1
    assert "marts.stg_customers" in output and "check(s) failed" in output
    catalog = both_runs.catalog("cluster")
    after = {m: catalog.load_table(f"banking.{m}").current_snapshot().snapshot_id for m in MODELS}
    assert after["stg_customers"] == before["stg_customers"]  # main unchanged
    assert after["mart_customer_360"] == before["mart_customer_360"]  # downstream: not run
    branches = catalog.load_table("banking.stg_customers").metadata.refs
    assert "akko_audit__banking_fraud_demo__marts__stg_customers" in branches


UNREACHABLE = """
  unreachable:
    engine: cluster
    catalog:
      type: sql
      uri: ${AKKO_CATALOG_URI}
      warehouse: ${AKKO_WAREHOUSE}
      password: {env: AKKO_CATALOG_PASSWORD}
    object_store: {uri: "${AKKO_OBJECT_STORE}"}
    trino: {conn_id: akko_trino_down, catalog: iceberg}
    spark: {remote: "${AKKO_SPARK_REMOTE}"}
"""


def test_an_unreachable_trino_fails_the_compile_naming_it(both_runs: Project) -> None:
    akko_yaml = both_runs.root / "akko.yaml"
    saved = akko_yaml.read_text()
    akko_yaml.write_text(saved + UNREACHABLE)
    env = {**both_runs.env(), "AIRFLOW_CONN_AKKO_TRINO_DOWN": "trino://akko:pw@127.0.0.1:1/?catalog=iceberg"}
    try:
        done = akko("run", "banking_fraud_demo", "--profile", "unreachable", env=env)
    finally:
        akko_yaml.write_text(saved)
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "marts.compile" in output and "dbt compile of project banking failed" in output
    assert "127.0.0.1" in output and "pw@" not in output
