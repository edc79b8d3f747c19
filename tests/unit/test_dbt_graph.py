"""A dbt step's graph, built by real dbt (`dbt parse`, `dbt ls`, for `akko validate` also `dbt compile`, in the
subprocess of dbt/manifest.py) from the fixture project tests/fixtures/dbt/shop, proves:

- every selected model and seed is a node with its Iceberg table (`<schema>.<alias>`: the step's namespace, a
  model's own schema through dbt's generate_schema_name, an alias), its materialization and incremental settings;
  ephemeral models are no node (dbt inlines them) but what they read counts;
- dependencies are dbt's refs plus the waits its tests add (a relationships test needs the table it refers to),
  never a cycle, and the nodes come in dependency order; sources are the lakehouse tables the step reads;
- each test gates one node, with its severity (`config: {severity: warn}`), singular tests included; a seed keeps
  its `column_types`; `select`/`exclude` choose the nodes (tags, paths), and refs to unselected models are reads;
- the stored graph is keyed by a fingerprint of the project's files and the step's selection and vars: a changed
  model file (or `vars:`) makes parse time refuse it with a problem saying to run `akko sync`, which rebuilds it;
- `akko validate` reports broken dbt steps at file:line (a missing project at the spec's `project`, a ref() to no
  model and a Jinja error at the model file with dbt's message, DuckDB-only SQL on the embedded profile at the
  model's line, an unknown name under `models:`), while the other pipelines still validate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.compiler.entry import compile_plan
from akko_orchestrator.dbt.graph import DbtGraph, DbtNode, read_graph
from akko_orchestrator.dbt.manifest import build_graph
from akko_orchestrator.dbt.project import fingerprint, graph_path, load_project
from akko_orchestrator.dbt.sync import refresh_graphs
from akko_orchestrator.errors import SpecError
from akko_orchestrator.plan.dbt_steps import STALE, selection, stored_graph
from akko_orchestrator.spec.validate import validate_path
from tests.fixtures.dbt_project import NAMESPACE, dbt_folder, load_dbt_step, make_shop_project, spec_file

TABLES = {
    "countries": "shop.countries",
    "stg_orders": "shop.stg_orders",
    "big_orders": "shop.big_orders",
    "customer_totals": "shop_reporting.customer_summary",
    "orders_latest": "shop.orders_latest",
    "orders_appended": "shop.orders_appended",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop project with its graph built and stored, as `akko sync` leaves it."""
    root = make_shop_project(tmp_path_factory.mktemp("dbt_graph") / "project")
    refresh_graphs([spec_file(root)])
    return root


@pytest.fixture(scope="module")
def graph(shop: Path) -> DbtGraph:
    """The graph parse time reads: the stored one, accepted because it is of the project as it is."""
    _, step = load_dbt_step(spec_file(shop))
    lookup = stored_graph(step, dbt_folder(shop), NAMESPACE)
    assert lookup.problems == [] and lookup.graph is not None
    return lookup.graph


def nodes(graph: DbtGraph) -> dict[str, DbtNode]:
    return {n.name: n for n in graph.nodes}


def test_models_and_seeds_are_nodes_with_their_tables(graph: DbtGraph) -> None:
    assert (graph.project_name, graph.profile, graph.target_schema) == ("shop", "akko", "shop")
    by_name = nodes(graph)
    assert {name: node.table for name, node in by_name.items()} == TABLES
    assert "int_paid_orders" not in by_name  # ephemeral: inlined by dbt, no table, no task
    assert sorted(graph.tables) == sorted(TABLES.values())
    summary = by_name["customer_totals"]  # its own schema (dbt's default generate_schema_name) and an alias
    assert (summary.schema, summary.alias, summary.file) == (
        "shop_reporting",
        "customer_summary",
        "models/marts/customer_totals.sql",
    )
    assert by_name["countries"].file == "seeds/countries.csv"
    assert {n.name: n.resource_type for n in graph.nodes} == {
        name: "seed" if name == "countries" else "model" for name in TABLES
    }


def test_materializations_and_incremental_settings(graph: DbtGraph) -> None:
    by_name = nodes(graph)
    assert {name: n.materialized for name, n in by_name.items()} == {
        "countries": "seed",
        "stg_orders": "table",  # from dbt_project.yml (+materialized per folder)
        "big_orders": "view",
        "customer_totals": "table",
        "orders_latest": "incremental",
        "orders_appended": "incremental",
    }
    latest, appended = by_name["orders_latest"], by_name["orders_appended"]
    assert (latest.unique_key, latest.incremental_strategy) == (("order_id",), "merge")
    assert (appended.unique_key, appended.incremental_strategy) == ((), "append")


def test_dependencies_are_refs_through_ephemeral_models_plus_the_tests_waits(graph: DbtGraph) -> None:
    uid = {n.name: n.unique_id for n in graph.nodes}
    depends = {n.name: {p.split(".")[-1] for p in n.depends_on} for n in graph.nodes}
    assert depends == {
        "countries": set(),
        "stg_orders": {"countries"},  # its relationships test reads the seed
        "big_orders": {"stg_orders", "countries"},
        "customer_totals": {"stg_orders"},  # through the ephemeral int_paid_orders
        "orders_latest": {"stg_orders"},
        "orders_appended": {"stg_orders", "orders_latest"},  # its relationships test reads orders_latest
    }
    assert all(p.startswith(("model.shop.", "seed.shop.")) for n in graph.nodes for p in n.depends_on)
    seen: set[str] = set()
    for node in graph.nodes:  # dependency order
        assert set(node.depends_on) <= seen, node.name
        seen.add(node.unique_id)
    assert uid["countries"] == "seed.shop.countries" and uid["stg_orders"] == "model.shop.stg_orders"
    assert all(n.refs_outside == () for n in graph.nodes)  # everything it refs is selected


def test_sources_are_what_the_step_reads(graph: DbtGraph) -> None:
    by_name = nodes(graph)
    assert by_name["stg_orders"].sources == ("demo.orders",)
    assert all(n.sources == () for name, n in by_name.items() if name != "stg_orders")
    assert graph.reads == ("demo.orders",)  # the models' tables are the step's own


def test_each_test_gates_one_node_with_its_severity(graph: DbtGraph) -> None:
    tests = {n.name: {t.name: t for t in n.tests} for n in graph.nodes}
    assert sorted(tests["stg_orders"]) == [
        "assert_no_negative_amounts",  # the singular test in tests/
        "not_null_stg_orders_order_id",
        "relationships_stg_orders_country_code__country_code__ref_countries_",
        "stg_orders_known_status",
        "unique_stg_orders_order_id",
    ]
    assert {name: t.severity for name, t in tests["stg_orders"].items()} == {
        **{name: "error" for name in tests["stg_orders"]},
        "stg_orders_known_status": "warn",
    }
    singular = tests["stg_orders"]["assert_no_negative_amounts"]
    assert (singular.file, singular.depends_on) == (
        "tests/assert_no_negative_amounts.sql",
        ("model.shop.stg_orders",),
    )
    relationship = tests["stg_orders"]["relationships_stg_orders_country_code__country_code__ref_countries_"]
    assert relationship.file == "models/schema.yml"
    assert relationship.depends_on == ("model.shop.stg_orders", "seed.shop.countries")
    assert sorted(tests["countries"]) == [
        "accepted_values_countries_region__EU__NA",
        "not_null_countries_country_code",
        "unique_countries_country_code",
    ]
    assert sorted(tests["orders_latest"]) == [
        "not_null_orders_latest_order_id",
        "unique_orders_latest_order_id",
    ]
    assert list(tests["orders_appended"]) == [
        "relationships_orders_appended_order_id__order_id__ref_orders_latest_"
    ]
    assert sorted(tests["customer_totals"]) == [
        "not_null_customer_totals_customer_id",
        "unique_customer_totals_customer_id",
    ]
    assert tests["big_orders"] == {}
    every = [t.unique_id for n in graph.nodes for t in n.tests]
    assert len(every) == len(set(every)) == 13  # each test gates exactly one node


def test_seed_keeps_its_column_types(graph: DbtGraph) -> None:
    countries = nodes(graph)["countries"]
    assert countries.seed_types == (("region_code", "varchar"), ("vat_rate", "integer"))
    assert countries.delimiter == ","


def test_stored_graph_is_plain_json_of_this_project(shop: Path, graph: DbtGraph) -> None:
    _, step = load_dbt_step(spec_file(shop))
    project = load_project(dbt_folder(shop))
    chosen = selection(step, NAMESPACE)
    path = graph_path(project, chosen)
    assert path.parent == dbt_folder(shop) / "target" / "akko"
    assert read_graph(path) == graph == DbtGraph.from_json(graph.to_json())
    assert graph.fingerprint == fingerprint(project, chosen)


def test_select_and_exclude_choose_the_nodes(shop: Path) -> None:
    """Tags and paths select, exclude removes; what a selected node refs outside the selection is a read."""
    _, step = load_dbt_step(spec_file(shop))
    chosen = step.model_copy(
        update={"select": ["tag:finance", "path:models/staging"], "exclude": ["orders_latest"]}
    )
    build = build_graph(load_project(dbt_folder(shop)), selection(chosen, NAMESPACE), chosen.vars)
    assert build.problems == [] and build.graph is not None
    by_name = nodes(build.graph)
    # tag:finance is customer_totals and orders_latest (excluded); the staging folder is stg_orders and the
    # ephemeral int_paid_orders (no node)
    assert list(by_name) == ["stg_orders", "customer_totals"]
    stg = by_name["stg_orders"]
    assert stg.depends_on == () and stg.refs_outside == ("shop.countries",)  # its test's seed is not selected
    assert by_name["customer_totals"].depends_on == ("model.shop.stg_orders",)
    assert build.graph.reads == ("demo.orders", "shop.countries")
    assert build.graph.tables == ("shop.stg_orders", "shop_reporting.customer_summary")


def test_tests_referring_both_ways_never_make_a_cycle(tmp_path: Path) -> None:
    """Two models whose relationships tests each refer to the other: one of them waits for the other, and gates
    both tests (a cycle would be a DAG that cannot be rendered)."""
    project = tmp_path / "both"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: both\nconfig-version: 2\nprofile: akko\nmodels:\n  both:\n    +materialized: table\n"
    )
    (project / "models" / "a.sql").write_text("SELECT 1 AS id, 2 AS b_id\n")
    (project / "models" / "b.sql").write_text("SELECT 2 AS id, 1 AS a_id\n")
    (project / "models" / "schema.yml").write_text(
        "version: 2\nmodels:\n"
        "  - name: a\n    columns:\n      - name: b_id\n        data_tests:\n"
        "          - relationships: {arguments: {to: ref('b'), field: id}}\n"
        "  - name: b\n    columns:\n      - name: a_id\n        data_tests:\n"
        "          - relationships: {arguments: {to: ref('a'), field: id}}\n"
    )
    chosen = {"select": [], "exclude": [], "schema": "t", "vars": {}}
    build = build_graph(load_project(project), chosen, {})
    assert build.problems == [] and build.graph is not None
    first, second = build.graph.nodes
    assert first.depends_on == () and second.depends_on == (first.unique_id,)
    assert len(second.tests) == 2 and first.tests == ()


def test_a_changed_model_makes_the_stored_graph_stale_until_akko_sync(shop: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(shop, root)  # with its stored graph: the fingerprint reads files relative to the project
    spec, folder = spec_file(root), dbt_folder(root)
    _, step = load_dbt_step(spec)
    assert stored_graph(step, folder, NAMESPACE).problems == []
    compile_plan(spec, root)  # parse time accepts it
    model = folder / "models" / "marts" / "big_orders.sql"
    before = fingerprint(load_project(folder), selection(step, NAMESPACE))
    model.write_text(model.read_text().replace("o.amount,", "o.amount, o.status,"))
    assert fingerprint(load_project(folder), selection(step, NAMESPACE)) != before

    stale = stored_graph(step, folder, NAMESPACE)
    assert stale.graph is None
    assert stale.problems == [(f"dbt project shop: {STALE}", None, None)]
    assert "run `akko sync`" in STALE
    with pytest.raises(SpecError) as raised:  # what Airflow shows as the DAG's import error
        compile_plan(spec, root)
    (issue,) = raised.value.issues
    assert (issue.file, issue.field) == ("pipelines/shop_dbt.yaml", "steps[1].project")
    assert issue.line == spec.read_text().splitlines().index("    project: shop") + 1
    assert "run `akko sync`" in issue.reason

    refresh_graphs([spec])  # akko sync (and so run, demo, dev) rebuilds it with dbt
    fresh = stored_graph(step, folder, NAMESPACE)
    assert fresh.problems == [] and fresh.graph is not None
    assert compile_plan(spec, root).step("shop").dbt == fresh.graph


def test_the_steps_vars_are_part_of_the_graphs_identity(shop: Path, graph: DbtGraph) -> None:
    """A var can enable a model, name its schema or choose what it refs: a graph built with other vars is not
    this step's."""
    _, step = load_dbt_step(spec_file(shop))
    other = step.model_copy(update={"vars": {"min_amount": 10}})
    lookup = stored_graph(other, dbt_folder(shop), NAMESPACE)
    assert lookup.graph is None and "run `akko sync`" in lookup.problems[0][0]
    assert stored_graph(step, dbt_folder(shop), NAMESPACE).graph == graph


def test_validate_accepts_the_shop_project_on_the_embedded_profile(shop: Path) -> None:
    """Every model and test of the fixture project, compiled by dbt, is Trino SQL the embedded engine answers as
    Trino would (what validate checks at the model's line)."""
    report = validate_path(shop / "pipelines", shop, engine="embedded", profile="local")
    assert report.issues == [] and report.valid_files == ["pipelines/shop_dbt.yaml"]


# --- akko validate on broken dbt steps ---------------------------------------------------------------------

BROKEN_MODELS = {
    "badref": {
        "orders.sql": "-- orders of a model that is not there\nSELECT *\nFROM {{ ref('no_such_model') }}\n"
    },
    "jinja": {"broken.sql": "-- an if without its endif\nSELECT 1 AS id\n{% if true %}\nWHERE 1 = 1\n"},
    "duck": {
        "years.sql": "-- DuckDB's strftime: Trino has date_format\nSELECT\n    strftime(current_date, '%Y') AS y\n",
        "files.sql": "SELECT *\nFROM read_csv('orders.csv')\n",
    },
}
DBT_SPEC = (
    "pipeline: {name}\nowner: tests\nteam: t\nsteps:\n  - id: build\n    kind: dbt\n    project: {project}\n"
)
GOOD_SPEC = """\
pipeline: still_good
owner: tests
team: t
steps:
  - id: one
    kind: sql
    sql: SELECT 1 AS id
    output: {table: t.one}
"""


def broken_project(root: Path) -> Path:
    """pipelines/: a dbt spec per broken project, one whose project is missing, one good SQL pipeline."""
    pipelines = root / "pipelines"
    for name, models in BROKEN_MODELS.items():
        folder = pipelines / "dbt" / name
        (folder / "models").mkdir(parents=True)
        (folder / "dbt_project.yml").write_text(f"name: {name}\nconfig-version: 2\nprofile: akko\n")
        for file, sql in models.items():
            (folder / "models" / file).write_text(sql)
        (pipelines / f"{name}.yaml").write_text(DBT_SPEC.format(name=name, project=f"dbt/{name}"))
    with (pipelines / "duck.yaml").open("a") as spec:
        spec.write("    models:\n      no_such:\n        checks:\n          - row_count: {min: 1}\n")
    (pipelines / "missing.yaml").write_text(DBT_SPEC.format(name="missing", project="dbt/nowhere"))
    (pipelines / "good.yaml").write_text(GOOD_SPEC)
    (root / "akko.yaml").write_text("project: broken\nlakehouse: akko\npipelines: pipelines\n")
    return root


def test_validate_reports_broken_dbt_steps_at_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AKKO_PROJECT_DIR", "AKKO_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / "state"))
    root = broken_project(tmp_path / "project")
    result = CliRunner().invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 1, result.output
    errors = result.stderr.splitlines()
    assert all(line.startswith("error ") for line in errors), errors
    located = {line.split(": ", 1)[0].removeprefix("error "): line for line in errors}
    assert sorted(located) == [
        "pipelines/dbt/badref/models/orders.sql:1:1",  # dbt names the file, not the line
        "pipelines/dbt/duck/models/files.sql:2:1",
        "pipelines/dbt/duck/models/years.sql:3:1",
        "pipelines/dbt/jinja/models/broken.sql:3:1",
        "pipelines/duck.yaml:10:9",
        "pipelines/missing.yaml:7:14",
    ], errors

    badref = located["pipelines/dbt/badref/models/orders.sql:1:1"]
    assert "steps[0].project: Compilation Error" in badref
    assert "(models/orders.sql)" in badref and "'no_such_model' which was not found" in badref
    jinja = located["pipelines/dbt/jinja/models/broken.sql:3:1"]
    assert "steps[0].project: Compilation Error in model broken (models/broken.sql)" in jinja
    assert "endif" in jinja
    years = located["pipelines/dbt/duck/models/years.sql:3:1"]
    assert "steps[0].project: strftime: not a Trino function" in years and "date_format" in years
    files = located["pipelines/dbt/duck/models/files.sql:2:1"]
    assert "steps[0].project: read_csv: not a Trino function" in files and "ingest" in files
    unknown = located["pipelines/duck.yaml:10:9"]
    assert "steps[0].models.no_such: no model or seed 'no_such' in this step's selection" in unknown
    assert "models: files, years" in unknown
    missing = located["pipelines/missing.yaml:7:14"]
    assert "steps[0].project: no dbt project at" in missing and "dbt_project.yml not found" in missing

    assert result.stdout.splitlines()[-2:] == ["valid pipelines/good.yaml", "1 of 5 spec file(s) valid."]

    # parse time (no dbt) then shows dbt's own message for this state of the project, not just "stale"
    with pytest.raises(SpecError) as raised:
        compile_plan(root / "pipelines" / "badref.yaml", root)
    (issue,) = raised.value.issues
    assert (issue.file, issue.line, issue.field) == (
        "pipelines/dbt/badref/models/orders.sql",
        1,
        "steps[0].project",
    )
    assert "'no_such_model' which was not found" in issue.reason
