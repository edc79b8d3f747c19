"""OpenLineage from every step, proved against a consumer: pipelines run through real Airflow (`dag.test()`, as
`akko run` runs them) with akko.yaml `lineage: {transport: http, ...}` pointed at a loopback receiver that records
every request (tests/fixtures/lineage.py), as OpenMetadata's OpenLineage API would receive them. This proves:

- every task's START and COMPLETE (FAIL for a failed one) arrive as `POST /api/v1/openlineage/lineage` (the path
  OpenMetadata serves) with `Authorization: Bearer <the token from the env>` and a JSON body, and the same events
  are in the local log (<state>/lineage/events.jsonl) that `akko lineage` reads;
- field by field, per step kind: a python step (generate_sales; and table in / table out), a file ingest (the
  CSV as a `file` dataset -> `iceberg.demo.raw_sales` with its schema, the snapshot id the catalog holds as its
  version, 12 rows), a SQL step with output (its input at the snapshot it read, column lineage revenue <- quantity,
  unit_price, the checks as dataQualityAssertions, `akko_iceberg` published on its audit branch, the SQL as job
  facet), SQL verification queries (input only), and the run facet `akko` (pipeline, step, run id, try, profile);
- ingest from an HTTP API (namespace `http://127.0.0.1:<port>`, name `/api/rows`) and from PostgreSQL (a real
  throwaway server, tests/fixtures/postgres.py: `postgres://127.0.0.1:<port>`, `<db>.<schema>.<table>`);
- failing checks (`--conf {"bad_rows": 3}`): transform_sales' FAIL event carries its output unpublished
  (`published: false`, the audit branch's snapshot) and the failing checks as assertions with `success: false`;
- a dbt model's COMPLETE: job `<pipeline>.<step>.<model>`, its refs and seed as inputs, its table as output with
  column lineage from the model's compiled SQL;
- a consumer down (connection refused) or slower than `timeout`: the pipeline still succeeds, within tasks x
  (2 x timeout + 5) s more than with the consumer up, and the local log still gets every event;
- every event received validates against tests/fixtures/openlineage/run_event.schema.json, a transcription of
  the OpenLineage 2-0-2 RunEvent rules and of the standard facets' shapes, NOT the official schema file: no
  installed package ships the official JSON Schema files (not the openlineage-python wheels, nor the provider,
  nor the npm, Maven or crates.io packages) and the tests run offline;
- `akko lineage demo.sales --column revenue` shows raw_sales.quantity and raw_sales.unit_price upstream and
  marts.revenue_by_region.revenue downstream; `akko lineage demo.sales` shows the CSV file upstream.

Airflow's OpenLineage provider reads its settings and makes its client once per process, so each lineage
configuration runs in a fresh interpreter (tests/fixtures/lineage.py): one process runs all the pipelines with the
consumer up (the first is the cold baseline of the outage tests), then one process each with the consumer down
and slow. All share one project (one Airflow metadata DB). A Spark step is not run here: it needs Java and a
Spark Connect server (tests/integration/test_spark_steps.py), and its lineage is table-level, recorded by the
same code as the python step's.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from tests.conftest import copy_project
from tests.fixtures import lineage as lineage_fixture
from tests.fixtures.cli import akko, cli_env
from tests.fixtures.dbt_project import FIXTURE as DBT_FIXTURE
from tests.fixtures.http_server import JsonApiServer, running_json_api
from tests.fixtures.lineage import Receiver, running_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "openlineage" / "run_event.schema.json"
ENDPOINT = "api/v1/openlineage/lineage"
TOKEN = "om-test-token-7f3a"  # noqa: S105 (a test's fake bearer token)
NAMESPACE = "iceberg://akko"  # the embedded lakehouse's dataset namespace (akko.yaml lakehouse: akko)
PG_CONN = "akko_lineage_pg"
OUTAGE_TIMEOUT = 1.0  # lineage.timeout of the outage runs, seconds
# The slow consumer answers after this long: far over OUTAGE_TIMEOUT, so a wait not bounded by the timeout would
# cost at least this much per event, well over the bound below even with LOAD_SLACK.
SLOW_DELAY = 30.0
# The outage run and its baseline (the fixture's first batch) run minutes apart on a shared 2-core machine: their
# durations differ by up to ~15 s with no consumer at all (seen under parallel load).
LOAD_SLACK = 20.0
RUN_TIMEOUT = 600
TRANSFORM_SQL_CHECKS = {  # check name -> (assertion, column): transform_sales' checks in the demo's spec
    "unique_sale_id": ("unique", "sale_id"),
    "not_null_sale_id_sale_date_region": ("not_null", None),  # several columns: none named
    "accepted_values_region": ("accepted_values", "region"),
    "range_quantity": ("range", "quantity"),
    "expression_5": ("expression", None),
    "row_count": ("row_count", None),
    "no_future_sales": ("sql", None),
}

FUNCTIONS = '''\
"""Python steps of the lineage tests."""

import pyarrow as pa
import pyarrow.compute as pc


def numbers() -> pa.Table:
    return pa.table({"n": [1, 2, 3]})


def doubled(numbers: pa.Table) -> pa.Table:
    return numbers.append_column("twice", pc.multiply(numbers["n"], 2))


def enrich(api_rows: pa.Table) -> pa.Table:
    return api_rows.append_column("label_length", pc.utf8_length(api_rows["label"]))
'''

OUTAGE_SPEC = """\
pipeline: lineage_outage
owner: tests
team: lineage
schedule: manual
defaults: {retries: 0}
steps:
  - id: make_numbers
    kind: python
    function: lineage_functions:numbers
    output: {table: lineage.numbers, mode: overwrite}
  - id: double_numbers
    kind: python
    function: lineage_functions:doubled
    inputs: [lineage.numbers]
    output: {table: lineage.doubled, mode: overwrite}
"""
ROWS = [{"id": 1, "label": "one"}, {"id": 2, "label": "three"}, {"id": 3, "label": "eleven"}]


def sources_spec(api: JsonApiServer, postgres: bool) -> str:
    sql_step = f"""
          - id: load_customers
            kind: ingest
            source:
              sql: {{conn_id: {PG_CONN}, query: "SELECT id, name FROM crm.customers"}}
            output: {{table: lineage.customers, mode: overwrite}}"""
    return textwrap.dedent(
        f"""\
        pipeline: lineage_sources
        owner: tests
        team: lineage
        schedule: manual
        defaults: {{retries: 0}}
        steps:
          - id: fetch_rows
            kind: ingest
            source:
              http: {{url: "{api.base_url}/api/rows", records: rows}}
            output: {{table: lineage.api_rows, mode: overwrite}}
          - id: enrich
            kind: python
            function: lineage_functions:enrich
            inputs: [lineage.api_rows]
            output: {{table: lineage.api_rows_enriched, mode: overwrite}}{sql_step if postgres else ""}
        """
    )


# ------------------------------------------------------------------------------------------------ the runs


@dataclass
class Batch:
    """One process's runs: their reports and what the consumer received meanwhile."""

    reports: list[dict[str, Any]]
    received: list[lineage_fixture.Received]
    output: str

    def report(self, pipeline: str, index: int = 0) -> dict[str, Any]:
        return [r for r in self.reports if r["dag_id"] == pipeline][index]


@dataclass
class Lake:
    project: Project
    api: JsonApiServer
    pg_port: int | None
    env: dict[str, str]
    base_yaml: str
    batches: dict[str, Batch] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def log(self) -> Path:
        return self.project.state_dir / "lineage" / "events.jsonl"

    def configure(self, **lineage: Any) -> None:
        """akko.yaml with this `lineage:` block (read by the next process)."""
        block = json.dumps(lineage)  # a JSON object is a YAML flow mapping
        (self.root / "akko.yaml").write_text(f"{self.base_yaml}\nlineage: {block}\n", encoding="utf-8")

    def run(
        self, name: str, runs: list[tuple[str, dict[str, Any] | None]], receiver: Receiver | None
    ) -> Batch:
        out = self.project.state_dir / f"reports-{name}.json"
        done = subprocess.run(
            [sys.executable, lineage_fixture.__file__, str(out), json.dumps(runs)],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0 and out.is_file(), f"the Airflow runs crashed:\n{output[-6000:]}"
        batch = Batch(json.loads(out.read_text()), list(receiver.requests) if receiver else [], output)
        self.batches[name] = batch
        return batch


def _pg_server(stack: ExitStack) -> Any:
    """A throwaway PostgreSQL with crm.customers, or None when its binaries are not installed."""
    from tests.fixtures import postgres

    try:
        server = stack.enter_context(postgres.running_postgres())
    except (postgres.PostgresUnavailable, FileNotFoundError, OSError):
        return None
    with server.connect() as conn:
        conn.execute("CREATE SCHEMA crm")
        conn.execute("CREATE TABLE crm.customers (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO crm.customers VALUES (1, 'Ada'), (2, 'Grace')")
    return server


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The demo project plus the lineage tests' pipelines and the dbt fixture project, its services, and the
    first process: every pipeline, with the consumer up."""
    root = copy_project(tmp_path_factory.mktemp("lineage") / "project")
    pipelines = root / "pipelines"
    (pipelines / "lineage_functions.py").write_text(FUNCTIONS, encoding="utf-8")
    (pipelines / "lineage_outage.yaml").write_text(OUTAGE_SPEC, encoding="utf-8")
    ignored = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", "__akko_cache__")
    shutil.copytree(DBT_FIXTURE / "shop", pipelines / "shop", ignore=ignored)
    for name in ("shop_dbt.yaml", "shop_functions.py"):
        shutil.copy(DBT_FIXTURE / name, pipelines / name)
    state = root / ".akko"
    with ExitStack() as stack:
        api = stack.enter_context(running_json_api())
        api.route("/api/rows", 200, {"rows": ROWS})
        pg = _pg_server(stack)
        (pipelines / "lineage_sources.yaml").write_text(sources_spec(api, pg is not None), encoding="utf-8")
        extra = {"OM_TOKEN": TOKEN}
        if pg is not None:
            extra[f"AIRFLOW_CONN_{PG_CONN.upper()}"] = pg.uri()
        lake = Lake(
            project=_project(root, state),
            api=api,
            pg_port=pg.port if pg is not None else None,
            env=cli_env(root, state, **extra),
            base_yaml=(root / "akko.yaml").read_text(encoding="utf-8"),
        )
        receiver = stack.enter_context(running_receiver())
        lake.configure(transport="http", url=receiver.url, endpoint=ENDPOINT, api_key={"env": "OM_TOKEN"})
        lake.run(
            "up",
            [
                ("lineage_outage", None),  # first: the cold baseline of the outage tests
                ("akko_e2e_pipeline", None),
                ("sales_by_region_mart", None),
                ("lineage_sources", None),
                ("shop_dbt", {"batch": "first"}),
                ("akko_e2e_pipeline", {"bad_rows": 3}),
            ],
            receiver,
        )
        yield lake


def _project(root: Path, state: Path) -> Project:
    import os

    saved = {k: os.environ.get(k) for k in ("AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ["AKKO_STATE_DIR"] = str(state)
    os.environ.pop("AKKO_PROFILE", None)
    try:
        return load_project(root)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -------------------------------------------------------------------------------------------- event helpers


def task_events(
    events: list[dict[str, Any]], report: dict[str, Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(task_id, eventType) -> the event, of one pipeline run's tasks (one map index each here)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    prefix = f"{report['dag_id']}."
    for event in events:
        airflow = (event.get("run", {}).get("facets") or {}).get("airflow") or {}
        if airflow.get("dagRun", {}).get("run_id") != report["run_id"]:
            continue
        name = event["job"]["name"]
        if name.startswith(prefix):
            found[(name.removeprefix(prefix), event["eventType"])] = event
    return found


def events_of(lake: Lake, batch: str, pipeline: str, index: int = 0) -> dict[tuple[str, str], dict[str, Any]]:
    chosen = lake.batches[batch]
    return task_events([r.body for r in chosen.received], chosen.report(pipeline, index))


def dataset(datasets: list[dict[str, Any]], name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    matches = [d for d in datasets if d["namespace"] == namespace and d["name"] == name]
    assert len(matches) == 1, (
        f"{namespace} {name} not once in {[(d['namespace'], d['name']) for d in datasets]}"
    )
    return matches[0]


def schema_of(project: Project, table: str) -> list[dict[str, str]]:
    from akko_orchestrator.engines.duckdb.engine import trino_type

    loaded = open_catalog(project).load_table(table)
    return [{"name": f.name, "type": trino_type(f.field_type)} for f in loaded.schema().fields]


def written_by(project: Project, table: str, run_id: str) -> int:
    """The last snapshot of `table` carrying run `run_id`'s identity (what that run's write left on main)."""
    loaded = open_catalog(project).load_table(table)
    mine = [
        s
        for s in loaded.snapshots()
        if (s.summary.additional_properties if s.summary else {}).get("akko.run-id") == run_id
    ]
    assert mine, f"no snapshot of {table} from run {run_id}"
    return max(mine, key=lambda s: s.sequence_number).snapshot_id


def fields(facet_schema: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": f["name"], "type": f["type"]} for f in facet_schema["fields"]]


def lineage_of(output: dict[str, Any]) -> dict[str, list[tuple[str, str, str, str]]]:
    """columnLineage as {column: [(input name, field, type, subtype)]}."""
    found = {}
    for column, spec in output["facets"]["columnLineage"]["fields"].items():
        found[column] = sorted(
            (f["name"], f["field"], f["transformations"][0]["type"], f["transformations"][0]["subtype"])
            for f in spec["inputFields"]
        )
        assert all(f["namespace"] == NAMESPACE for f in spec["inputFields"])
    return found


def assert_common(event: dict[str, Any], pipeline: str, task: str, event_type: str) -> None:
    assert event["eventType"] == event_type
    assert event["job"] == {**event["job"], "namespace": "akko", "name": f"{pipeline}.{task}"}
    assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/OpenLineage.json")
    assert event["producer"].startswith("https://github.com/apache/airflow/")
    when = dt.datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    assert abs(dt.datetime.now(dt.UTC) - when) < dt.timedelta(hours=1)


def akko_facet(event: dict[str, Any]) -> dict[str, Any]:
    facet = dict(event["run"]["facets"]["akko"])
    assert facet.pop("_producer").startswith("https://github.com/akko-ai/akko-orchestrator/")
    assert facet.pop("_schemaURL").endswith("/docs/lineage.md#akko")
    return facet


# ------------------------------------------------------------------------------------------------------ tests


def test_every_task_start_and_end_reach_the_consumer_with_the_token(lake: Lake) -> None:
    batch = lake.batches["up"]
    assert batch.received, batch.output[-3000:]
    for request in batch.received:
        assert (request.method, request.path) == ("POST", f"/{ENDPOINT}")
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["content-type"].startswith("application/json")
        assert isinstance(request.body, dict)
    events = [r.body for r in batch.received]
    for report in batch.reports:
        found = task_events(events, report)
        for task in report["tasks"]:
            if task["state"] in ("upstream_failed", "skipped"):
                assert not [k for k in found if k[0] == task["task_id"]], task  # never started: no event
                continue
            end = "COMPLETE" if task["state"] == "success" else "FAIL"
            assert {(task["task_id"], "START"), (task["task_id"], end)} <= set(found), (
                report["dag_id"],
                task,
            )
    demo = batch.report("akko_e2e_pipeline")
    assert demo["state"] == "success"
    assert {t["task_id"] for t in demo["tasks"]} == {
        "generate_sales",
        "land_sales.list_files",
        "land_sales.load_file",
        "land_sales.commit",
        "transform_sales",
        "verify_sales",
        "summary",
    }


def test_the_local_log_holds_the_same_events(lake: Lake) -> None:
    logged = [json.loads(line) for line in lake.log.read_text(encoding="utf-8").splitlines() if line.strip()]
    received = [r.body for r in lake.batches["up"].received]
    as_text = {json.dumps(e, sort_keys=True) for e in logged}
    assert all(json.dumps(e, sort_keys=True) in as_text for e in received)
    assert len(logged) >= len(received) > 0


def test_python_steps(lake: Lake) -> None:
    report = lake.batches["up"].report("akko_e2e_pipeline")
    events = events_of(lake, "up", "akko_e2e_pipeline")
    start, done = events[("generate_sales", "START")], events[("generate_sales", "COMPLETE")]
    assert_common(start, "akko_e2e_pipeline", "generate_sales", "START")
    assert_common(done, "akko_e2e_pipeline", "generate_sales", "COMPLETE")
    assert start["run"]["runId"] == done["run"]["runId"]
    assert (start["inputs"], start["outputs"], done["inputs"], done["outputs"]) == ([], [], [], [])
    assert "sql" not in done["job"].get("facets", {})
    assert akko_facet(done) == {
        "pipeline": "akko_e2e_pipeline",
        "step": "generate_sales",
        "runId": report["run_id"],
        "tryNumber": 1,
        "profile": "local",
    }
    summary = events[("summary", "COMPLETE")]
    sales = dataset(summary["inputs"], "iceberg.demo.sales")
    assert sales["facets"]["version"]["datasetVersion"] == str(
        written_by(lake.project, "demo.sales", report["run_id"])
    )
    assert summary["outputs"] == []

    # table in, table out: names, schemas and versions; no column lineage without SQL
    run = lake.batches["up"].report("lineage_sources")
    enrich = events_of(lake, "up", "lineage_sources")[("enrich", "COMPLETE")]
    source = dataset(enrich["inputs"], "iceberg.lineage.api_rows")
    assert source["facets"]["version"]["datasetVersion"] == str(
        written_by(lake.project, "lineage.api_rows", run["run_id"])
    )
    assert fields(source["facets"]["schema"]) == schema_of(lake.project, "lineage.api_rows")
    (output,) = enrich["outputs"]
    assert (output["namespace"], output["name"]) == (NAMESPACE, "iceberg.lineage.api_rows_enriched")
    assert fields(output["facets"]["schema"]) == schema_of(lake.project, "lineage.api_rows_enriched")
    assert fields(output["facets"]["schema"])[-1] == {"name": "label_length", "type": "integer"}
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert "columnLineage" not in output["facets"] and "sql" not in enrich["job"].get("facets", {})
    assert output["facets"]["akko_iceberg"]["published"] is True


def test_file_ingest(lake: Lake) -> None:
    from akko_orchestrator.lakehouse.object_store import ObjectStore

    report = lake.batches["up"].report("akko_e2e_pipeline")
    events = events_of(lake, "up", "akko_e2e_pipeline")
    csv = ObjectStore(lake.project).resolve("raw/sales/sales.csv")
    start, done = events[("land_sales.commit", "START")], events[("land_sales.commit", "COMPLETE")]
    assert_common(done, "akko_e2e_pipeline", "land_sales.commit", "COMPLETE")
    assert [(o["namespace"], o["name"]) for o in start["outputs"]] == [(NAMESPACE, "iceberg.demo.raw_sales")]
    assert start["inputs"] == []  # the files are known once listed
    assert [(i["namespace"], i["name"]) for i in done["inputs"]] == [("file", csv)]
    (raw,) = done["outputs"]
    assert (raw["namespace"], raw["name"]) == (NAMESPACE, "iceberg.demo.raw_sales")
    snapshot = written_by(lake.project, "demo.raw_sales", report["run_id"])
    assert raw["facets"]["version"]["datasetVersion"] == str(snapshot)
    assert fields(raw["facets"]["schema"]) == schema_of(lake.project, "demo.raw_sales")
    assert [f["name"] for f in raw["facets"]["schema"]["fields"]][:2] == ["sale_id", "sale_date"]
    assert raw["outputFacets"]["outputStatistics"]["rowCount"] == 12
    iceberg = raw["facets"]["akko_iceberg"]
    assert {k: v for k, v in iceberg.items() if not k.startswith("_")} == {
        "snapshotId": str(snapshot),
        "mode": "overwrite",
        "auditBranch": "akko_audit__akko_e2e_pipeline__land_sales",
        "published": True,
        "alreadyPublished": False,
    }
    assertions = raw["facets"]["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"]) for a in assertions] == [("not_null", True), ("row_count", True)]
    assert akko_facet(done)["step"] == "land_sales"
    listed = events[("land_sales.list_files", "COMPLETE")]
    assert [(i["namespace"], i["name"]) for i in listed["inputs"]] == [("file", csv)]
    assert listed["outputs"] == []


def test_sql_step_with_an_output(lake: Lake) -> None:
    report = lake.batches["up"].report("akko_e2e_pipeline")
    events = events_of(lake, "up", "akko_e2e_pipeline")
    start, done = events[("transform_sales", "START")], events[("transform_sales", "COMPLETE")]
    assert [(d["namespace"], d["name"]) for d in start["inputs"]] == [(NAMESPACE, "iceberg.demo.raw_sales")]
    assert [(d["namespace"], d["name"]) for d in start["outputs"]] == [(NAMESPACE, "iceberg.demo.sales")]
    assert_common(done, "akko_e2e_pipeline", "transform_sales", "COMPLETE")

    (raw,) = done["inputs"]
    assert (raw["namespace"], raw["name"]) == (NAMESPACE, "iceberg.demo.raw_sales")
    assert raw["facets"]["version"]["datasetVersion"] == str(
        written_by(lake.project, "demo.raw_sales", report["run_id"])
    )
    assert [f["name"] for f in raw["facets"]["schema"]["fields"]] == [
        "sale_id",
        "sale_date",
        "product",
        "region",
        "quantity",
        "unit_price",
    ]

    (sales,) = done["outputs"]
    assert (sales["namespace"], sales["name"]) == (NAMESPACE, "iceberg.demo.sales")
    snapshot = written_by(lake.project, "demo.sales", report["run_id"])
    assert sales["facets"]["version"]["datasetVersion"] == str(snapshot)
    assert fields(sales["facets"]["schema"]) == schema_of(lake.project, "demo.sales")
    assert sales["outputFacets"]["outputStatistics"]["rowCount"] == 12
    raw_sales = "iceberg.demo.raw_sales"
    assert lineage_of(sales) == {
        "sale_id": [(raw_sales, "sale_id", "DIRECT", "IDENTITY")],
        "sale_date": [(raw_sales, "sale_date", "DIRECT", "TRANSFORMATION")],
        "product": [(raw_sales, "product", "DIRECT", "IDENTITY")],
        "region": [(raw_sales, "region", "DIRECT", "IDENTITY")],
        "quantity": [(raw_sales, "quantity", "DIRECT", "IDENTITY")],
        "unit_price": [(raw_sales, "unit_price", "DIRECT", "IDENTITY")],
        "revenue": [
            (raw_sales, "quantity", "DIRECT", "TRANSFORMATION"),
            (raw_sales, "unit_price", "DIRECT", "TRANSFORMATION"),
        ],
    }
    assertions = sales["facets"]["dataQualityAssertions"]["assertions"]
    assert {a["name"]: (a["assertion"], a.get("column")) for a in assertions} == TRANSFORM_SQL_CHECKS
    assert all(a["success"] is True for a in assertions)
    by_name = {a["name"]: a for a in assertions}
    assert [a["severity"] for a in assertions].count("error") == 6 and by_name["no_future_sales"][
        "severity"
    ] == "warn"
    assert (by_name["range_quantity"]["expected"], by_name["row_count"]["actual"]) == (
        "quantity >= 1 and <= 1000",
        "12 rows",
    )
    iceberg = sales["facets"]["akko_iceberg"]
    assert iceberg["_producer"].startswith("https://github.com/akko-ai/akko-orchestrator/")  # AKKO's facet
    assert iceberg["published"] is True and iceberg["snapshotId"] == str(snapshot)
    assert iceberg["auditBranch"] == "akko_audit__akko_e2e_pipeline__transform_sales"
    assert iceberg["mode"] == "overwrite"
    sql = next(s for s in _spec(lake, "akko_e2e_pipeline")["steps"] if s["id"] == "transform_sales")["sql"]
    assert done["job"]["facets"]["sql"]["query"] == sql
    assert akko_facet(done) == {
        "pipeline": "akko_e2e_pipeline",
        "step": "transform_sales",
        "runId": report["run_id"],
        "tryNumber": 1,
        "profile": "local",
    }


def test_sql_verification_queries(lake: Lake) -> None:
    report = lake.batches["up"].report("akko_e2e_pipeline")
    done = events_of(lake, "up", "akko_e2e_pipeline")[("verify_sales", "COMPLETE")]
    (sales,) = done["inputs"]
    assert (sales["namespace"], sales["name"]) == (NAMESPACE, "iceberg.demo.sales")
    assert sales["facets"]["version"]["datasetVersion"] == str(
        written_by(lake.project, "demo.sales", report["run_id"])
    )
    assert done["outputs"] == []
    queries = next(s for s in _spec(lake, "akko_e2e_pipeline")["steps"] if s["id"] == "verify_sales")[
        "queries"
    ]
    assert done["job"]["facets"]["sql"]["query"] == ";\n".join(queries.values())


def test_ingest_from_http_and_sql_sources(lake: Lake) -> None:
    events = events_of(lake, "up", "lineage_sources")
    fetched = events[("fetch_rows", "COMPLETE")]
    assert [(i["namespace"], i["name"]) for i in fetched["inputs"]] == [(lake.api.base_url, "/api/rows")]
    (rows,) = fetched["outputs"]
    assert (rows["name"], rows["outputFacets"]["outputStatistics"]["rowCount"]) == (
        "iceberg.lineage.api_rows",
        3,
    )
    if lake.pg_port is None:
        pytest.skip("no PostgreSQL server binaries here (tests/fixtures/postgres.py): SQL source not checked")
    loaded = events[("load_customers", "COMPLETE")]
    assert [(i["namespace"], i["name"]) for i in loaded["inputs"]] == [
        (f"postgres://127.0.0.1:{lake.pg_port}", "akko.crm.customers")
    ]
    (customers,) = loaded["outputs"]
    assert customers["name"] == "iceberg.lineage.customers"
    assert customers["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert [f["name"] for f in customers["facets"]["schema"]["fields"]] == ["id", "name"]


def test_failing_checks_emit_the_unpublished_snapshot_and_failed_assertions(lake: Lake) -> None:
    from akko_orchestrator.lakehouse.wap import audit_branch

    report = lake.batches["up"].report("akko_e2e_pipeline", 1)
    assert report["state"] == "failed"
    events = events_of(lake, "up", "akko_e2e_pipeline", 1)
    assert ("transform_sales", "COMPLETE") not in events
    failed = events[("transform_sales", "FAIL")]
    assert_common(failed, "akko_e2e_pipeline", "transform_sales", "FAIL")
    (sales,) = failed["outputs"]
    branch = audit_branch("akko_e2e_pipeline", "transform_sales")
    head = open_catalog(lake.project).load_table("demo.sales").metadata.refs[branch].snapshot_id
    iceberg = sales["facets"]["akko_iceberg"]
    assert (iceberg["published"], iceberg["auditBranch"], iceberg["snapshotId"]) == (False, branch, str(head))
    assert sales["facets"]["version"]["datasetVersion"] == str(head)
    assert sales["outputFacets"]["outputStatistics"]["rowCount"] == 15
    outcome = {a["name"]: a["success"] for a in sales["facets"]["dataQualityAssertions"]["assertions"]}
    assert {name for name, success in outcome.items() if not success} == {
        "unique_sale_id",
        "accepted_values_region",
        "range_quantity",
    }
    assert set(outcome) == set(TRANSFORM_SQL_CHECKS)
    assert "columnLineage" in sales["facets"]  # what the rejected snapshot was made from, all the same
    assert not [k for k in events if k[0] in ("verify_sales", "summary")]


def test_dbt_models(lake: Lake) -> None:
    report = lake.batches["up"].report("shop_dbt")
    assert report["state"] == "success", [t for t in report["tasks"] if t["state"] != "success"]
    events = events_of(lake, "up", "shop_dbt")
    done = events[("shop.big_orders", "COMPLETE")]
    assert_common(done, "shop_dbt", "shop.big_orders", "COMPLETE")
    assert sorted(i["name"] for i in done["inputs"]) == ["iceberg.shop.countries", "iceberg.shop.stg_orders"]
    (big,) = done["outputs"]
    assert (big["namespace"], big["name"]) == (NAMESPACE, "iceberg.shop.big_orders")
    stg, countries = "iceberg.shop.stg_orders", "iceberg.shop.countries"
    assert lineage_of(big) == {
        "order_id": [(stg, "order_id", "DIRECT", "IDENTITY")],
        "customer_id": [(stg, "customer_id", "DIRECT", "IDENTITY")],
        "amount": [(stg, "amount", "DIRECT", "IDENTITY")],
        "country_name": [(countries, "country_name", "DIRECT", "IDENTITY")],
    }
    assert big["facets"]["version"]["datasetVersion"] == str(
        written_by(lake.project, "shop.big_orders", report["run_id"])
    )
    assert "SELECT" in done["job"]["facets"]["sql"]["query"]  # the compiled SQL, no Jinja
    assert "{{" not in done["job"]["facets"]["sql"]["query"]
    assert akko_facet(done)["step"] == "shop.big_orders"

    totals = events[("shop.customer_totals", "COMPLETE")]
    (summary,) = totals["outputs"]
    assert summary["name"] == "iceberg.shop_reporting.customer_summary"
    assert lineage_of(summary) == {
        "customer_id": [(stg, "customer_id", "DIRECT", "IDENTITY")],
        "paid_amount": [(stg, "amount", "DIRECT", "AGGREGATION")],
    }  # through the ephemeral int_paid_orders, inlined by dbt; count(*) has no source column
    assertions = summary["facets"]["dataQualityAssertions"]["assertions"]
    assert all(a["success"] for a in assertions) and "row_count" in {a["assertion"] for a in assertions}

    staged = events[("shop.stg_orders", "COMPLETE")]
    # its source only: not shop.countries, which only its relationships test reads (the task waits for it)
    assert [i["name"] for i in staged["inputs"]] == ["iceberg.demo.orders"]
    (orders,) = staged["outputs"]
    assert lineage_of(orders)["country_code"] == [
        ("iceberg.demo.orders", "country", "DIRECT", "TRANSFORMATION")
    ]


def _outage_run(lake: Lake, name: str, receiver: Receiver | None, url: str) -> None:
    lake.configure(
        transport="http", url=url, endpoint=ENDPOINT, api_key={"env": "OM_TOKEN"}, timeout=OUTAGE_TIMEOUT
    )
    before = lake.log.read_text(encoding="utf-8").count("\n")
    batch = lake.run(name, [("lineage_outage", None)], receiver)
    report = batch.report("lineage_outage")
    assert report["state"] == "success", batch.output[-3000:]
    baseline = lake.batches["up"].report("lineage_outage")
    tasks = len(report["tasks"])
    extra = report["duration"] - baseline["duration"]
    assert extra < tasks * (OUTAGE_TIMEOUT * 2 + 5) + LOAD_SLACK, (
        extra,
        report["duration"],
        baseline["duration"],
    )
    print(
        f"{name}: dag.test {report['duration']:.2f} s, baseline {baseline['duration']:.2f} s, extra {extra:.2f} s"
    )
    logged = [json.loads(line) for line in lake.log.read_text(encoding="utf-8").splitlines()[before:]]
    found = task_events(logged, report)
    for task in ("make_numbers", "double_numbers"):
        assert {(task, "START"), (task, "COMPLETE")} <= set(found), sorted(found)
    doubled = found[("double_numbers", "COMPLETE")]
    assert dataset(doubled["outputs"], "iceberg.lineage.doubled")["outputFacets"]["outputStatistics"] == {
        **doubled["outputs"][0]["outputFacets"]["outputStatistics"],
        "rowCount": 3,
    }


def test_a_consumer_refusing_connections_fails_nothing(lake: Lake) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _outage_run(lake, "refused", None, f"http://127.0.0.1:{port}")


def test_a_slow_consumer_costs_at_most_its_timeout(lake: Lake) -> None:
    with running_receiver(delay=SLOW_DELAY) as slow:
        _outage_run(lake, "slow", slow, slow.url)
        assert slow.requests  # it was asked, and gave up on
        assert all(r.path == f"/{ENDPOINT}" for r in slow.requests)


def test_every_event_validates_against_the_openlineage_run_event_rules(lake: Lake) -> None:
    """tests/fixtures/openlineage/run_event.schema.json is a transcription of the OpenLineage 2-0-2 RunEvent
    spec's rules and of the standard facets' shapes, not the official file (which no installed package ships:
    see its description). `date-time` and `uri` are checked by the functions below, as jsonschema's optional
    format checkers need packages not installed here."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        json.loads(SCHEMA_FILE.read_text()), format_checker=_formats()
    )
    events = [r.body for r in lake.batches["up"].received]
    assert len(events) > 40
    for event in events:
        errors = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
        assert not errors, (
            event["job"]["name"],
            event["eventType"],
            [(list(e.absolute_path), e.message) for e in errors],
        )
    bad = dict(events[0], eventTime="yesterday", run={"runId": "not-a-uuid"})
    assert {e.validator for e in validator.iter_errors(bad)} == {"format"}
    facet = {"_producer": "not a uri", "fields": [{"type": "bigint"}]}
    broken = dict(events[0], inputs=[{"namespace": "x", "name": "y", "facets": {"schema": facet}}])
    assert {e.validator for e in validator.iter_errors(broken)} == {"format", "required"}


def _formats() -> Any:
    import re

    import jsonschema

    checker = jsonschema.FormatChecker(["uuid"])
    rfc3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:  # RFC 3339 (JSON Schema's date-time)
        if not isinstance(value, str):
            return True
        if not rfc3339.match(value):
            return False
        dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return True

    uri = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")  # RFC 3986: scheme ":" hier-part, no spaces

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        return not isinstance(value, str) or bool(uri.match(value))

    return checker


def test_akko_lineage_shows_columns_and_files(lake: Lake) -> None:
    from akko_orchestrator.lakehouse.object_store import ObjectStore

    env = cli_env(lake.root, lake.project.state_dir, COLUMNS="400")
    column = akko("lineage", "demo.sales", "--column", "revenue", env=env, timeout=120)
    assert column.returncode == 0, column.stdout + column.stderr
    upstream, _, downstream = column.stdout.partition("downstream")
    assert "demo.raw_sales.quantity" in upstream and "demo.raw_sales.unit_price" in upstream
    assert "marts.revenue_by_region.revenue" in downstream
    table = akko("lineage", "demo.sales", env=env, timeout=120)
    assert table.returncode == 0, table.stdout + table.stderr
    upstream, _, downstream = table.stdout.partition("downstream")
    assert "demo.raw_sales" in upstream
    assert ObjectStore(lake.project).resolve("raw/sales/sales.csv") in upstream
    assert "marts.revenue_by_region" in downstream


def _spec(lake: Lake, pipeline: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((lake.root / "pipelines" / f"{pipeline}.yaml").read_text(encoding="utf-8"))
