"""`akko query` is read-only (runtime/query.py): SELECT, WITH, VALUES, TABLE, SHOW, DESCRIBE and EXPLAIN of a
query run; anything else is refused with a clear message before it runs, and nothing changes. On the embedded
profile SHOW and DESCRIBE are answered from the Iceberg catalog in Trino's columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.config.project import load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.plan.statements import read_only_refusal
from akko_orchestrator.spec.models import Output


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "akko.yaml").write_text(
        "lakehouse: akko\nprofile: local\nprofiles:\n  local: {engine: embedded}\n"
    )
    monkeypatch.setenv("AKKO_STATE_DIR", str(root / ".akko"))
    monkeypatch.delenv("AKKO_PROFILE", raising=False)
    catalog = open_catalog(load_project(root))
    data = pa.table({"sale_id": [1, 2], "region": ["EU", "US"]})
    write_table(catalog, Output(table="demo.sales"), data, {})
    return root


def query(project: Path, sql: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--project", str(project), "query", sql], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def snapshot_of(project: Path) -> int:
    return open_catalog(load_project(project)).load_table("demo.sales").current_snapshot().snapshot_id


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("DROP TABLE demo.sales", "DROP"),
        ("DELETE FROM demo.sales", "DELETE"),
        ("INSERT INTO demo.sales VALUES (3, 'APAC')", "INSERT"),
        ("CREATE TABLE demo.copy AS SELECT * FROM demo.sales", "CREATE"),
        ("UPDATE demo.sales SET region = 'X'", "UPDATE"),
        ("COPY (SELECT 1) TO '{target}'", "COPY"),
        ("SET threads = 1", "SET"),
        ("INSTALL httpfs", "INSTALL"),
    ],
)
def test_what_writes_is_refused_before_it_runs(project: Path, tmp_path: Path, sql: str, kind: str) -> None:
    target = tmp_path / "copied.csv"
    before = snapshot_of(project)
    code, output = query(project, sql.format(target=target))
    assert code == 1
    assert f"akko query is read-only: {kind} is refused" in output
    assert snapshot_of(project) == before and not target.exists()


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("SELECT 1; DROP TABLE demo.sales", "one statement at a time"),
        ("EXPLAIN ANALYZE DELETE FROM demo.sales", "DELETE is refused"),
        ("EXPLAIN SHOW TABLES", "explains queries only"),
        ("ATTACH '/tmp/x.db' AS x", "ATTACH is not a Trino statement"),
    ],
)
def test_hidden_writes_are_refused_too(project: Path, sql: str, refusal: str) -> None:
    code, output = query(project, sql)
    assert code == 1 and refusal in output


def test_reads_run(project: Path) -> None:
    assert query(project, "SELECT count(*) AS n FROM demo.sales")[1].count("2") >= 1
    code, output = query(project, "WITH s AS (SELECT region FROM iceberg.demo.sales) SELECT * FROM s")
    assert code == 0 and "EU" in output and "US" in output
    code, output = query(project, "VALUES (1, 'x')")
    assert code == 0 and "x" in output
    code, output = query(project, "TABLE demo.sales")
    assert code == 0 and "APAC" not in output and "EU" in output


def test_show_and_describe_answer_like_trino(project: Path) -> None:
    code, output = query(project, "SHOW SCHEMAS")
    assert code == 0 and "Schema" in output and "demo" in output
    code, output = query(project, "SHOW TABLES FROM demo")
    assert code == 0 and "Table" in output and "sales" in output
    for sql in ("DESCRIBE demo.sales", "SHOW COLUMNS FROM iceberg.demo.sales"):
        code, output = query(project, sql)
        assert code == 0 and "sale_id" in output and "bigint" in output and "varchar" in output


def test_explain_shows_the_plan(project: Path) -> None:
    code, output = query(project, "EXPLAIN SELECT region, count(*) FROM demo.sales GROUP BY region")
    assert code == 0 and "Query Plan" in output and "GROUP_BY" in output


def test_a_file_is_no_table(project: Path) -> None:
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM '/etc/passwd'"):
        code, output = query(project, sql)
        assert code == 1 and "root:" not in output


def test_read_only_refusal_admits_exactly_the_reading_statements() -> None:
    for sql in (
        "SELECT 1",
        "SHOW TABLES",
        "DESCRIBE demo.sales",
        "EXPLAIN SELECT 1",
        "EXPLAIN (TYPE IO) SELECT 1",
    ):
        assert read_only_refusal(sql) is None, sql
    for sql in (
        "MERGE INTO demo.sales USING demo.x ON true WHEN MATCHED THEN DELETE",
        "ALTER TABLE demo.sales",
    ):
        assert read_only_refusal(sql) is not None, sql
