"""Class 9 of issue 21: no silent data loss on bad input.

Every malformed file of tests/fixtures/bad_input (csv, json lines, json arrays, parquet; each beside the message
it must give) fails the ingest naming `file:line` and the reason, with every table as it was; with
`on_bad_rows: quarantine` the other rows land and the bad ones go to `<table>_rejects` with their line and reason,
counted in the step's summary; rows read always reconcile with rows written and set aside (the 2.6M-row probe, in
small: pyarrow's reader loses rows after an unterminated quote, the reconciliation catches that reader, AKKO's
names the line); columns named like AKKO's internal ones work; text that is not UTF-8 never becomes bytes.

Runs through akko.testing (the runtime code of the DAG's tasks, without Airflow) on a copy of the repo's project
with its teams."""

from __future__ import annotations

import io
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from akko_orchestrator.cli.render_runs import run_json, run_summary
from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import AkkoError, SpecError
from akko_orchestrator.lakehouse.file_read import BadRowsError, FileRead, read_file
from akko_orchestrator.lakehouse.text_lines import Lines
from akko_orchestrator.local_airflow.inprocess import RunReport, TaskReport
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.ingest import commit_staged, stage_file
from akko_orchestrator.spec.loader import load_spec
from akko_orchestrator.spec.models import IngestSource, IngestStep, Output
from akko_orchestrator.testing import PipelineResult, run_pipeline
from tests.conftest import copy_project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bad_input"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix not in (".expected", ".py"))
# Bad files quarantine cannot split into rows: no row boundary after the problem, or no row at all (Parquet).
UNSPLITTABLE = {"unterminated_quote.csv", "broken_array.json", "empty.csv", "duplicate_header.csv"}
EXISTING = pa.table({"id": [100], "note": ["was there before"]})


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    project = copy_project(tmp_path / "project", teams=True)
    monkeypatch.setenv("AKKO_PROJECT_DIR", str(project))
    monkeypatch.delenv("AKKO_STATE_DIR", raising=False)
    shutil.copytree(FIXTURES, project / "data" / "bad")
    yield project


def spec(root: Path, files: str, *extra: str, output: str = "{table: demo.landing, mode: append}") -> Path:
    path = root / "pipelines" / "bad_input.yaml"
    source = ", ".join([f'files: "{files}"', *extra])
    path.write_text(
        "pipeline: bad_input\nowner: tests\nteam: demo\nsteps:\n"
        f"  - id: land\n    kind: ingest\n    source: {{{source}}}\n    output: {output}\n"
    )
    return path


def run(root: Path, files: str, *extra: str, **kwargs: str) -> PipelineResult:
    return run_pipeline(
        spec(root, files, *extra, **kwargs), {"demo.landing": EXISTING}, project=root, steps=["land"]
    )


def expected(case: str, root: Path) -> str:
    return (FIXTURES / f"{case}.expected").read_text().strip().format(file=root / "data" / "bad" / case)


def is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def error_of(result: PipelineResult) -> str:
    [error] = result.errors.values()
    return str(error)


def assert_unchanged(result: PipelineResult) -> None:
    """The table holds what it held (one snapshot, the input's) and no rejects table was written."""
    assert result.table("demo.landing").to_pylist() == EXISTING.to_pylist()
    assert len(result.catalog.load_table("demo.landing").snapshots()) == 1
    assert not result.catalog.table_exists("demo.landing_rejects")


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_fails_the_step_at_its_line_and_changes_no_table(root: Path, case: str) -> None:
    result = run(root, f"./data/bad/{case}")
    assert result.steps == {"land": "failed"}
    assert error_of(result).startswith(expected(case, root)), error_of(result)
    assert_unchanged(result)


@pytest.mark.parametrize("case", [c for c in CASES if c not in UNSPLITTABLE and not c.endswith(".parquet")])
def test_quarantine_lands_the_good_rows_and_sets_each_bad_one_aside(root: Path, case: str) -> None:
    result = run(root, f"./data/bad/{case}", "on_bad_rows: quarantine")
    assert result.ok, result.errors
    message = expected(case, root)
    line = re.match(r".*?:(\d+): ", message)
    reason = message.split(": ", 2 if line else 1)[-1].removeprefix("element 1: ")
    [reject] = result.table("demo.landing_rejects").to_pylist()
    assert reject["source_file"] == str(root / "data" / "bad" / case)
    assert reject["line"] == (int(line.group(1)) if line else None)
    assert reason in reject["error"] and reject["run_id"] == result.run_id
    counts = result.task("land").result["ingest"]
    landed = result.table("demo.landing").num_rows - EXISTING.num_rows
    assert counts["rows_read"] == landed + 1 == counts["rows_written"] + counts["rows_rejected"]
    assert counts["rows_rejected"] == 1 and counts["rejects_table"] == "demo.landing_rejects"


@pytest.mark.parametrize("case", sorted(UNSPLITTABLE | {c for c in CASES if c.endswith(".parquet")}))
def test_what_cannot_be_split_into_rows_fails_even_in_quarantine(root: Path, case: str) -> None:
    result = run(root, f"./data/bad/{case}", "on_bad_rows: quarantine")
    assert error_of(result).startswith(expected(case, root).split("; ")[0]), error_of(result)
    assert_unchanged(result)


def test_a_fanned_out_ingest_names_the_file_and_counts_every_file(root: Path) -> None:
    good = root / "data" / "orders"
    (good / "zz_bad.jsonl").write_bytes((FIXTURES / "not_json.jsonl").read_bytes())
    failed = run(root, "./data/orders/*.jsonl")
    assert failed.steps["land"] == "failed"
    assert error_of(failed).startswith(f"{good / 'zz_bad.jsonl'}:2: not valid JSON")
    assert failed.table("demo.landing").to_pylist() == EXISTING.to_pylist()

    result = run(root, "./data/orders/*.jsonl", "on_bad_rows: quarantine", output="{table: demo.orders}")
    assert result.ok, result.errors
    counts = result.task("land.commit").result["ingest"]
    total = sum(Lines(p.read_bytes()).nonblank for p in good.glob("*.jsonl"))
    assert counts == {
        "files": 4,
        "rows_read": total,
        "rows_written": total - 1,
        "rows_rejected": 1,
        "rejects_table": "demo.orders_rejects",
    }
    assert result.table("demo.orders").num_rows == total - 1
    assert result.table("demo.orders_rejects").column("line").to_pylist() == [2]


def test_rows_read_reconcile_a_reader_that_loses_rows(tmp_path: Path) -> None:
    """The issue's 110 MB probe in small (more than one pyarrow block): pyarrow returns fewer rows and no error;
    the count made apart from the parser refuses that read; AKKO's reader names the line."""
    rows = 120_000
    lines = [f"{i},region {i % 4},{i % 13},{i * 1.25:.2f}" for i in range(rows)]
    lines[rows // 2] = f'{rows // 2},"region broken,1,1.00'
    data = ("id,region,qty,amount\n" + "\n".join(lines) + "\n").encode()
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    lossy = pacsv.read_csv(io.BytesIO(data))
    assert 0 < lossy.num_rows < rows  # the silent loss of the issue
    with pytest.raises(BadRowsError, match=f"returned {lossy.num_rows} rows, but the file holds {rows}"):
        FileRead("big.csv", lossy, Lines(data).nonblank - 1).reconcile()
    with pytest.raises(BadRowsError) as raised:
        read_file(str(path), "csv", "big.csv")
    assert str(raised.value).startswith(
        f"big.csv:{rows // 2 + 2}: a quote opened on this line is never closed"
    )


def test_a_staged_file_that_lost_rows_fails_the_commit(root: Path) -> None:
    project = load_project(root)
    ctx = StepContext(project, pipeline_id="p", step_id="land", run_id="r1", map_index=0, team="demo")
    step = IngestStep(
        id="land",
        kind="ingest",
        source=IngestSource(files="./data/bad/*.csv", on_bad_rows="quarantine"),
        output=Output(table="demo.staged"),
    )
    staged = stage_file(ctx, step, str(root / "data" / "bad" / "too_many_fields.csv"))
    assert (staged["rows_read"], staged["rows_rejected"]) == (3, 1)
    table = pq.read_table(io.BytesIO(ctx.object_store.read_bytes(staged["staged"])))
    buffer = io.BytesIO()
    pq.write_table(table.slice(0, 1), buffer)  # what a lost write of the staging area would leave
    ctx.object_store.write_bytes(staged["staged"], buffer.getvalue())
    with pytest.raises(AkkoError, match="gave 2 rows, but 1 were staged: nothing is written"):
        commit_staged(ctx, step, [staged])
    assert not ctx.catalog.table_exists("demo.staged")


def test_akko_run_shows_rows_read_written_and_rejected(root: Path) -> None:
    result = run(root, "./data/bad/too_many_fields.csv", "on_bad_rows: quarantine")
    summary = result.task("land").result
    report = RunReport("bad_input", "run", "success", 1.0, [TaskReport("land", -1, "success", 0.5, summary)])
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(run_summary(report, 120))
    text = console.export_text()
    assert "2 of 3 read, 1 rejected" in text
    [step] = run_json(report, None)["steps"]
    assert (step["rows_written"], step["rows_read"], step["rows_rejected"]) == (2, 3, 1)
    assert step["rejects_table"] == "demo.landing_rejects"


def test_columns_named_like_akko_internals_work(root: Path) -> None:
    """Names AKKO (`__akko_row` of a fanned-out merge), its checks (`_akko_t`, `_akko_k`, `_akko_failing`) and
    pyiceberg's upsert (`__source_index`, `__target_index`) use for their own columns and aliases."""
    names = "id,__akko_row,_akko_t,_akko_k,_akko_failing,__source_index,__target_index,amount"
    folder = root / "data" / "internal"
    folder.mkdir()
    (folder / "a.csv").write_text(f"{names}\n1,10,x,k,f,7,70,1.5\n2,20,y,k,f,8,80,2.5\n")
    (folder / "b.csv").write_text(f"{names}\n2,21,z,k,f,9,90,3.5\n3,30,w,k,f,10,100,4.5\n")
    output = (
        "{table: demo.internal, mode: merge, keys: [id]}\n    checks:\n"
        "      - unique: [id]\n      - not_null: [id, amount]\n      - row_count: {min: 1}"
    )
    result = run(root, "./data/internal/*.csv", output=output)
    assert result.ok, result.errors
    rows = sorted(result.table("demo.internal").to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["__akko_row"], r["_akko_t"], r["__source_index"]) for r in rows] == [
        (1, 10, "x", 7),
        (2, 21, "z", 9),
        (3, 30, "w", 10),
    ]
    assert result.task("land.commit").result["ingest"]["rows_replaced"] == 1
    again = run(root, "./data/internal/*.csv", output=output)  # merged onto existing rows: still one per key
    assert again.ok, again.errors
    assert again.table("demo.internal").num_rows == 3


def test_text_that_is_not_utf8_is_decoded_as_told_or_set_aside_never_bytes(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    decoded = run(root, "./data/bad/not_utf8.csv", "encoding: latin-1")
    assert decoded.ok, decoded.errors
    landed = decoded.table("demo.landing")
    assert is_text(landed.schema.field("name").type)
    assert "café" in landed.column("name").to_pylist()

    with caplog.at_level(logging.WARNING, logger="akko"):
        aside = run(root, "./data/bad/not_utf8.jsonl", "on_bad_rows: quarantine")
    assert aside.ok, aside.errors
    assert is_text(aside.table("demo.landing").schema.field("name").type)
    [warning] = aside.task("land").result["ingest"]["warnings"]
    assert "1 row(s) are not valid UTF-8 and were set aside" in warning
    assert warning in caplog.text


def test_a_binary_parquet_column_is_kept_with_a_warning(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    pq.write_table(
        pa.table({"id": [1, 2], "payload": [b"\xe9t\xe9", b"ok"]}), root / "data" / "bytes.parquet"
    )
    with caplog.at_level(logging.WARNING, logger="akko"):
        result = run(root, "./data/bytes.parquet", output="{table: demo.bytes}")
    assert result.ok, result.errors
    assert result.table("demo.bytes").schema.field("payload").type == pa.binary()
    [warning] = result.task("land").result["ingest"]["warnings"]
    assert "column 'payload' is binary" in warning and warning in caplog.text


def test_a_late_value_of_another_type_makes_the_column_text_in_both_readers(root: Path) -> None:
    """pyarrow infers a column's type from all its values: one `seven` past the sniffed rows makes `qty` text, not
    a bad row. The strict reader (reached here through a row with a field too many) does the same."""
    rows = [f"{i},name {i},{i % 7}" for i in range(100_000)]
    rows[80_000] = "80000,name 80000,seven"
    (root / "data" / "late.csv").write_text("id,name,qty\n" + "\n".join(rows) + "\n")
    plain = run(root, "./data/late.csv", output="{table: demo.late}")
    assert plain.ok, plain.errors
    rows[90_000] = "90000,name 90000,9,extra"
    (root / "data" / "late.csv").write_text("id,name,qty\n" + "\n".join(rows) + "\n")
    strict = run(root, "./data/late.csv", "on_bad_rows: quarantine", output="{table: demo.late_strict}")
    assert strict.ok, strict.errors
    assert strict.table("demo.late_strict_rejects").column("line").to_pylist() == [90_002]
    for result, table, count in ((plain, "demo.late", 100_000), (strict, "demo.late_strict", 99_999)):
        landed = result.table(table)
        assert landed.num_rows == count and is_text(landed.schema.field("qty").type)
        assert "seven" in landed.column("qty").to_pylist()


def test_rows_set_aside_leave_the_types_pyarrow_gives_the_clean_file(tmp_path: Path) -> None:
    """The strict reader's types (the file has a bad row) are pyarrow's for the same file without it."""
    header = "id,amount,flag,day,at,at_tz,clock,name,empty,code"
    good = [
        "1,1.5,true,2026-01-02,2026-01-02 10:00:00,2026-01-02T10:00:00Z,10:00:00,a,,A1",
        '2,,false,2026-01-03,2026-01-03T11:30:00,2026-01-03T11:30:00+02:00,11:30:15,"b, c",,B2',
        "3,3.25,,2026-01-04,,2026-01-04T12:00:00Z,,,,C3",
    ]
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join([header, *good]) + "\n")
    dirty = tmp_path / "dirty.csv"
    dirty.write_text("\n".join([header, good[0], "9,1,2", *good[1:]]) + "\n")
    expected = read_file(str(clean), "csv", "clean.csv").table
    got = read_file(str(dirty), "csv", "dirty.csv", "quarantine")
    assert [r.line for r in got.rejects] == [3]
    assert got.table.schema == expected.schema
    assert got.table.to_pylist() == expected.to_pylist()


def test_the_options_apply_to_files_only(root: Path) -> None:
    cases = {
        'http: {url: "https://example.org/x"}, on_bad_rows: quarantine': "`on_bad_rows` only applies to `files`",
        'sql: {conn_id: c, query: "SELECT 1"}, encoding: latin-1': "`encoding` only applies to `files`",
        'files: "./data/x.parquet", encoding: latin-1': "`encoding` applies to csv and json files",
        'files: "./data/x.csv", on_bad_rows: skip': "on_bad_rows",
    }
    for source, reason in cases.items():
        path = root / "pipelines" / "options.yaml"
        path.write_text(
            "pipeline: options\nowner: tests\nteam: demo\nsteps:\n"
            f"  - id: land\n    kind: ingest\n    source: {{{source}}}\n    output: {{table: demo.x}}\n"
        )
        with pytest.raises(SpecError, match=re.escape(reason)) as raised:
            load_spec(path, "pipelines/options.yaml")
        assert str(raised.value).startswith("pipelines/options.yaml:7:")
