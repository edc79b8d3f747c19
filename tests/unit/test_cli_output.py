"""The CLI at 80 columns and with --json (cli/render.py, cli/output.py): the shared layout keeps names whole and
lines within the width; `akko tables` shows data files, size and the last maintenance of real pyiceberg tables
(the table properties the maintenance DAG sets); `validate --json` and `stack status --json` are plain JSON."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pyarrow as pa
import pytest
from rich.console import Console
from typer.testing import CliRunner

from akko_orchestrator.cli.console import console, err_console
from akko_orchestrator.cli.main import app
from akko_orchestrator.cli.render import Col, command_lines, rows_listing
from akko_orchestrator.config.project import load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.inspect import LAST_MAINTENANCE, LAST_MAINTENANCE_OPS
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
STEP = "land_orders_from_the_partner_api.load_file[12]"  # long names, as a fanned-out ingest has
RUN_ID = "scheduled__2026-12-06T06:00:00.000000+00:00"


def render(renderable: object, width: int) -> str:
    out = Console(width=width, record=True, color_system=None)
    out.print(renderable)
    return out.export_text()


def long_lines(text: str, width: int = 80) -> list[str]:
    return [line for line in text.splitlines() if len(line) > width]


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's consoles as in an 80-column terminal (or piped without COLUMNS)."""
    monkeypatch.setattr(console, "width", 80)
    monkeypatch.setattr(err_console, "width", 80)


def test_listing_is_a_table_when_it_fits_and_one_line_per_item_when_not() -> None:
    cols = (
        Col("step", key=True),
        Col("state", head=True),
        Col("table"),
        Col("run id"),
        Col("observed", wrap=True),
    )
    rows = [[STEP, "success", "sales.orders_raw", RUN_ID, "3 row(s) outside; min 0, max 5"]]
    wide = render(rows_listing("run", cols, rows, 200), 200)
    assert "┃ step" in wide and f"│ {STEP} │" in wide
    text = render(rows_listing("run", cols, rows, 80), 80)
    assert not long_lines(text), text
    lines = text.splitlines()
    assert lines[1] == f"{STEP}  success"  # the name whole, first on its line
    assert lines[2:] == [
        "    table: sales.orders_raw",
        f"    run id: {RUN_ID}",
        "    observed: 3 row(s) outside; min 0, max 5",
    ]


def test_a_command_to_copy_is_broken_at_its_arguments() -> None:
    args = [
        "akko",
        "query",
        "SELECT * FROM demo.sales WHERE region NOT IN ('EU', 'US')",
        "--at",
        "demo.sales=x",
    ]
    assert (
        command_lines(args, 200)
        == "  akko query \"SELECT * FROM demo.sales WHERE region NOT IN ('EU', 'US')\" --at demo.sales=x"
    )
    text = command_lines([*args[:4], "demo.sales=akko_audit__akko_e2e_pipeline__transform_sales"], 80)
    assert not long_lines(text) and text.count(" \\\n") == 2
    assert shlex.split(text.replace("\\\n", " "))[2:] == [
        args[2],
        "--at",
        "demo.sales=" + text.split("=")[-1],
    ]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose demo.sales has two data files and a recorded maintenance, and demo.other none."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "akko.yaml").write_text(
        "lakehouse: akko\nprofile: local\nprofiles:\n  local: {engine: embedded}\n"
    )
    monkeypatch.setenv("AKKO_STATE_DIR", str(root / ".akko"))
    monkeypatch.delenv("AKKO_PROFILE", raising=False)
    catalog = open_catalog(load_project(root))
    append = Output(table="demo.sales", mode="append")
    write_table(catalog, append, pa.table({"sale_id": [1, 2], "region": ["EU", "US"]}), {})
    write_table(catalog, append, pa.table({"sale_id": [3], "region": ["APAC"]}), {})
    write_table(catalog, Output(table="demo.other"), pa.table({"n": [1]}), {})
    with catalog.load_table("demo.sales").transaction() as tx:  # what the maintenance DAG records
        tx.set_properties(
            {
                LAST_MAINTENANCE: "2026-12-06T05:00:00+00:00",
                LAST_MAINTENANCE_OPS: "expire 12, compact 200->2 files",
            }
        )
    return root


def invoke(project: Path, *args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(app, ["--project", str(project), *args])


def test_tables_show_files_size_and_last_maintenance(project: Path, narrow: None) -> None:
    table = open_catalog(load_project(project)).load_table("demo.sales")
    files = table.inspect.files().to_pylist()  # what the table's manifests list, not its summary

    listing = invoke(project, "tables", "--json")
    assert listing.exit_code == 0, listing.output
    by_name = {t["table"]: t for t in json.loads(listing.stdout)["tables"]}
    sales, other = by_name["demo.sales"], by_name["demo.other"]
    assert sales["rows"] == 3 and sales["data_files"] == len(files) == 2
    assert sales["size_bytes"] == sum(f["file_size_in_bytes"] for f in files) > 0
    assert sales["last_maintenance"] == "2026-12-06T05:00:00+00:00"
    assert sales["last_maintenance_ops"] == "expire 12, compact 200->2 files"
    assert other["last_maintenance"] is None and other["data_files"] == 1

    text = invoke(project, "tables").stdout
    assert not long_lines(text), text
    assert re.search(r"(?m)^demo\.other +1 row +1 file +\d+ bytes$", text)
    assert re.search(r"(?m)^demo\.sales +3 rows +2 files +[\d.]+ kB$", text)
    assert "last maintenance: 2026-12-06T05:00:00+00:00" in text and "expire 12, compact 200->2 files" in text
    assert "last maintenance: never" in text

    detail = invoke(project, "tables", "demo.sales", "--json")
    assert detail.exit_code == 0, detail.output
    shown = json.loads(detail.stdout)
    assert shown["manifests"] == len(table.inspect.manifests()) and shown["data_files"] == 2
    assert [c["column"] for c in shown["schema"]] == ["sale_id", "region"]
    assert [s["total_rows"] for s in shown["snapshots"]] == [2, 3] and shown["branches"] == []
    text = invoke(project, "tables", "demo.sales").stdout
    assert not long_lines(text), text
    assert "manifests: 2" in text or "manifests: 1" in text
    for snapshot in shown["snapshots"]:
        assert str(snapshot["snapshot_id"]) in text


def test_query_rows_too_wide_become_one_block_per_row(project: Path, narrow: None) -> None:
    sql = (
        "SELECT sale_id, region, 'a long text value that does not fit next to the others' AS note, "
        + ", ".join(f"sale_id * {n} AS multiplied_by_{n}" for n in range(2, 6))
        + " FROM demo.sales ORDER BY sale_id"
    )
    text = invoke(project, "query", sql).stdout
    assert not long_lines(text), text
    assert text.splitlines()[:5] == [
        "3 row(s)",
        "row 1",
        "  sale_id          1",
        "  region           EU",
        ("  note             a long text value that does not fit next to the others"),
    ]
    assert "  multiplied_by_5  5\nrow 2\n" in text
    answer = json.loads(invoke(project, "query", sql, "--json").stdout)
    assert answer["row_count"] == 3 and answer["columns"][:2] == ["sale_id", "region"]
    assert answer["rows"][2][:2] == [3, "APAC"]


def test_validate_json_lists_located_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "akko.yaml").write_text(
        "lakehouse: akko\nprofile: local\nprofiles:\n  local: {engine: embedded}\n"
    )
    spec = FIXTURES / "bad_specs" / "unknown_step_field" / "spec.yaml"
    (root / "pipelines" / "spec.yaml").write_text(spec.read_text())
    monkeypatch.setenv("AKKO_STATE_DIR", str(root / ".akko"))
    result = invoke(root, "validate", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (
        report["ok"] is False and report["valid_files"] == [] and report["files"] == ["pipelines/spec.yaml"]
    )
    [problem] = report["problems"]
    assert (problem["file"], problem["line"], problem["column"]) == ("pipelines/spec.yaml", 9, 5)
    assert problem["field"] == "steps[0].outptu" and "output" in problem["suggestion"]
    assert problem["message"].startswith("pipelines/spec.yaml:9:5: steps[0].outptu")


def test_stack_status_json(project: Path) -> None:
    result = invoke(project, "stack", "status", "--json")
    assert result.exit_code == 0, result.output
    services = json.loads(result.stdout)["services"]
    assert {s["name"] for s in services} >= {"postgres", "trino"}
    assert all(s["running"] is False and s["pid"] is None for s in services)
    assert set(services[0]) == {"name", "running", "endpoint", "pid", "detail", "startup_seconds"}
