"""dbt outside the sandbox (issue 21, class 5): what a dbt model or macro may run on the DuckDB dbt compiles on.

Real dbt-duckdb runs on a project of two teams (tests/fixtures/dbt_sandbox.py): a `demo` dbt step whose model is a
probe (a `{% do run_query(...) %}`, or a macro), against a lakehouse holding `demo.orders` and `banking.accounts`.
dbt stops at a model's first error, so each probe runs alone. This proves, at validate time (`akko validate`'s dbt
compile: nothing readable) and at run time (the step's `compile` task: only the `demo` namespace's folder):

- a COPY over a live data file of `demo.orders`, whose folder DuckDB may read, is refused by the gate
  (dbt/gate.py); so is a COPY or EXPORT anywhere at validate time, and Python run through dbt's `statement`
  macro (dbt-duckdb would run it in process);
- reading another team's files or the state folder is refused by DuckDB's lock (`allowed_directories`);
- afterwards every table is as it was: the same snapshot, every warehouse file the same bytes, no new file;
- the gate's variants of each class, on a DuckDB locked to one folder as dbt's is: COPY (to, from, in a second
  statement), EXPORT, ATTACH/DETACH, INSTALL/LOAD, SET/RESET/USE, PRAGMA (also import_database), CALL/CHECKPOINT,
  PREPARE/EXECUTE, EXPLAIN ANALYZE, CREATE SECRET (behind a comment, persistent), writes to tables; and what
  compiling needs passes (queries, DESCRIBE/SHOW, transactions, tables, views and schemas).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from akko_orchestrator.dbt.gate import StatementRefused, checked, execute
from akko_orchestrator.engines.duckdb.sandbox import lock_down
from tests.fixtures.dbt_sandbox import (
    files_state,
    make_lakehouse,
    make_probe_project,
    snapshots,
)

GATE = "refused on dbt's DuckDB"
LOCK = "Permission Error"
EVIL_MACRO = """\
{% macro materialization_evil() %}
{% call statement('main', language='python') %}
open('MARKER', 'w').write('python ran')
{% endcall %}
{% endmacro %}
"""
# Every data file of demo.orders, a source of the model (so its folder is readable: glob finds them there),
# overwritten in place
OVERWRITE = """\
{% if execute %}
{% set found = run_query("SELECT file FROM glob('DEMO/data/*.parquet')") %}
{% for file in found.columns[0].values() %}
{% do run_query("COPY (SELECT 666 AS order_id, 0.0 AS amount) TO '" ~ file ~ "' (FORMAT parquet, USE_TMP_FILE false)") %}
{% endfor %}
{% endif %}
select * from {{ source('demo', 'orders') }}
"""
PYTHON = "{% if execute %}{% do materialization_evil() %}{% endif %}\nselect 1 as x\n"
# Real dbt runs stop at a model's first error: one probe per run, each class once; its variants are the gate's
# own tests below (the function the cursor calls).
RUN_TIME = {  # model -> (its SQL, what refuses it); DEMO and BANKING are the tables' folders
    "overwrite_live_file": (OVERWRITE, GATE),  # demo's folder is readable: only the gate stops the COPY
    "read_banking": (
        "{% if execute %}{% do run_query(\"SELECT * FROM read_parquet('BANKING/data/*.parquet')\") %}{% endif %}"
        "\nselect 1 as x\n",
        LOCK,
    ),
    "read_state": (
        "{% if execute %}{% do run_query(\"SELECT * FROM read_text('LAKEHOUSE/catalog.db')\") %}{% endif %}"
        "\nselect 1 as x\n",
        LOCK,
    ),
    "python": (PYTHON, GATE),
}
AT_VALIDATE = {  # nothing is readable there: a COPY to anywhere is the gate's
    "copy_out": (
        "{% if execute %}{% do run_query(\"COPY (SELECT 1 AS x) TO 'LAKEHOUSE/out.parquet'\") %}{% endif %}"
        "\nselect 1 as x\n",
        GATE,
    ),
    "export_database": (
        "{% if execute %}{% do run_query(\"EXPORT DATABASE 'LAKEHOUSE/dump'\") %}{% endif %}\nselect 1 as x\n",
        GATE,
    ),
    "python": (PYTHON, GATE),
}


@dataclass
class Lab:
    root: Path
    lakehouse: Path
    marker: Path

    @property
    def warehouse(self) -> Path:
        return self.lakehouse / "warehouse"

    def paths(self, text: str) -> str:
        return (
            text.replace("DEMO", str(self.warehouse / "demo" / "orders"))
            .replace("BANKING", str(self.warehouse / "banking" / "accounts"))
            .replace("LAKEHOUSE", str(self.lakehouse))
            .replace("MARKER", str(self.marker))
        )

    def state(self) -> tuple[dict[str, str], dict[str, int | None]]:
        """Every warehouse file's bytes and every table's snapshot."""
        return files_state(self.warehouse), snapshots(self.root, self.lakehouse)


def make_lab(base: Path, model: str, sql: str) -> Lab:
    lab = Lab(base / "project", base / "lakehouse", base / "python-ran")
    make_probe_project(lab.root, {model: lab.paths(sql)}, {"evil": lab.paths(EVIL_MACRO)})
    make_lakehouse(lab.root, lab.lakehouse)
    return lab


@pytest.mark.parametrize("model", sorted(AT_VALIDATE))
def test_validate_compiles_on_a_locked_gated_duckdb(tmp_path: Path, model: str) -> None:
    from akko_orchestrator.spec.validate import validate_path

    sql, refused = AT_VALIDATE[model]
    lab = make_lab(tmp_path, model, sql)
    before = lab.state()
    report = validate_path(lab.root / "pipelines", lab.root)
    issues = [i for i in report.issues if i.file.endswith(f"models/{model}.sql")]
    assert len(issues) == 1 and refused in issues[0].reason, report.issues
    assert lab.state() == before
    assert not lab.marker.exists()  # the Python never ran
    assert sorted(p.name for p in lab.lakehouse.iterdir()) == ["catalog.db", "warehouse"]  # no file written


@pytest.mark.parametrize("model", sorted(RUN_TIME))
def test_run_time_compile_is_locked_to_the_teams_folders_and_gated(tmp_path: Path, model: str) -> None:
    from akko_orchestrator.testing import run_pipeline

    sql, refused = RUN_TIME[model]
    lab = make_lab(tmp_path, model, sql)
    before = lab.state()
    result = run_pipeline("probe", project=lab.root, lakehouse=lab.lakehouse)
    states = {t.task_id: t for t in result.tasks}
    assert states["probe.compile"].state == "failed"
    message = str(states["probe.compile"].error)
    assert f"model {model} (models/{model}.sql)" in message and refused in message, message
    assert states[f"probe.{model}"].state == "upstream_failed"
    # the tables as they were: no snapshot, not a byte changed, no file added
    assert lab.state() == before
    assert not lab.marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# The gate itself, on a DuckDB locked to one folder as dbt's is at run time (no dbt: every variant, quickly)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    con = duckdb.connect(str(tmp_path / "iceberg.duckdb"))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.execute(f"COPY t TO '{allowed / 'live.parquet'}' (FORMAT parquet)")
    lock_down(con, [str(allowed)])
    yield con.cursor(), allowed
    con.close()


REFUSED = [
    "COPY t TO 'ALLOWED/live.parquet' (FORMAT parquet, USE_TMP_FILE false)",
    "copy (select 2 as a) to 'ALLOWED/live.parquet'",
    "COPY t FROM 'ALLOWED/live.parquet'",
    "EXPORT DATABASE 'ALLOWED/dump'",
    "ATTACH 'ALLOWED/new.duckdb' AS n",
    "ATTACH IF NOT EXISTS ':memory:' AS m",
    "DETACH iceberg",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs FROM 'http://example.org'",
    "LOAD 'ALLOWED/x.duckdb_extension'",
    "SET threads = 1",
    "RESET threads",
    "SET VARIABLE v = 1",
    "USE memory",
    "PRAGMA enable_profiling",
    "PRAGMA threads = 2",
    "PRAGMA import_database('ALLOWED')",
    "CALL checkpoint()",
    "CHECKPOINT",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "EXPLAIN ANALYZE COPY t TO 'ALLOWED/e.csv'",
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "create /* TABLE */ persistent secret s (type s3)",
    "CREATE OR REPLACE TEMPORARY SECRET s (TYPE s3)",
    "CREATE MACRO m(a) AS a",
    "INSERT INTO t VALUES (2)",
    "UPDATE t SET a = 3",
    "VACUUM",
    "UPDATE EXTENSIONS",
    "SELECT 1; COPY t TO 'ALLOWED/two.csv'",
    "SELECT 1; /* x */ ATTACH 'ALLOWED/x.duckdb'",
    "SELEC 1",
]
ALLOWED = [
    "SELECT * FROM t",
    '/* {"app": "dbt"} */ select count(*) from t',
    "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
    "DESCRIBE t",
    "SHOW TABLES",
    "SUMMARIZE t",
    "PRAGMA table_info('t')",
    "SELECT * FROM information_schema.tables",
    "BEGIN; SELECT 1; COMMIT",
    "BEGIN TRANSACTION; ROLLBACK",
    "CREATE SCHEMA IF NOT EXISTS s",
    "CREATE OR REPLACE TEMP VIEW v AS SELECT 1 AS a",
    "create /* x */ or replace table u as select 1 as a",
    "DROP VIEW IF EXISTS v",
    "SELECT * FROM read_parquet('ALLOWED/live.parquet')",
    "-- only a comment",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_gate_refuses_what_reaches_files_settings_or_extensions(locked, statement: str) -> None:
    con, allowed = locked
    before = files_state(allowed)
    with pytest.raises(StatementRefused, match="refused on dbt's DuckDB|could not parse"):
        execute(con, statement.replace("ALLOWED", str(allowed)))
    assert files_state(allowed) == before  # DuckDB alone lets COPY/EXPORT/ATTACH write here
    assert con.execute("SELECT a FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("statement", ALLOWED)
def test_gate_lets_compiling_query_and_introspect(locked, statement: str) -> None:
    con, allowed = locked
    execute(con, statement.replace("ALLOWED", str(allowed)))


def test_gate_runs_the_statements_it_checked_with_their_parameters(locked) -> None:
    con, _ = locked
    assert execute(con, "SELECT 1; SELECT ? + 1 AS n", [41]).fetchall() == [(42,)]
    assert [s.type.name for s in checked(con, "BEGIN; SELECT 1; COMMIT")] == [
        "TRANSACTION",
        "SELECT",
        "TRANSACTION",
    ]
    # the lock still applies to what the gate lets through: reading outside the allowed folder
    with pytest.raises(duckdb.PermissionException):
        execute(con, "SELECT * FROM read_text('/etc/hostname')")
