"""One sandbox per team (issue 21, class 3) and the SQL the embedded engine builds (class 1), on real DuckDB and real
pyiceberg tables of the repo's two teams: a `demo` connection reads no banking file by any path, AKKO's state folder
and the working directory's `.tmp/` are unreadable, the gate refuses COPY/EXPORT/ATTACH... even inside the folders a
connection may read and even when every SQL check before it is bypassed, and a hostile column alias stays a name."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from pyiceberg.catalog.sql import SqlCatalog
from sqlglot import exp

from akko_orchestrator.config.tenancy import TenancyError
from akko_orchestrator.engines.duckdb import gate
from akko_orchestrator.engines.duckdb.engine import DuckDBEngine
from akko_orchestrator.engines.duckdb.sandbox import allowed_folders, private_temp_directory
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.runtime.tenancy import guarded_catalog
from akko_orchestrator.sql.build import column, identifier, render, table
from tests.security._two_teams import SECRET, TwoTeams, two_teams


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> TwoTeams:
    return two_teams(tmp_path_factory.mktemp("sandbox") / "project")


@pytest.fixture
def demo(lake: TwoTeams) -> DuckDBEngine:
    engine = lake.context("demo").sql_engine
    assert isinstance(engine, DuckDBEngine)
    return engine


def raw(engine: DuckDBEngine, sql: str) -> str:
    """`sql` run on the engine's connection as is, past every AKKO check and the gate: the error DuckDB gives."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - DuckDB's error classes vary by refusal
        rows = engine.con.execute(sql).fetchall()
        assert SECRET not in str(rows)
    return str(raised.value)


def test_a_demo_connection_reads_only_its_teams_folders(lake: TwoTeams, demo: DuckDBEngine) -> None:
    assert demo.allowed == [str(lake.warehouse / "demo"), str(lake.warehouse / "marts")]
    assert demo.query("SELECT sum(amount) AS total FROM demo.sales", ["demo.sales"]).to_pylist() == [
        {"total": 60}
    ]
    with pytest.raises(TenancyError, match="banking.accounts .* may not read"):
        demo.query("SELECT * FROM banking.accounts", ["banking.accounts"])


@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM read_parquet('{file}')",
        "SELECT * FROM read_parquet('{data}/*.parquet')",
        "SELECT * FROM read_parquet('{wh}/*/*/data/*.parquet')",
        'SELECT * FROM "{file}"',
        "SELECT * FROM '{file}'",
        'SELECT * FROM "{stem}".parquet',
        "SELECT * FROM read_parquet('{wh}/demo/../banking/accounts/data/{name}')",
        "SELECT * FROM read_parquet('file://{file}')",
        "SELECT * FROM read_text('{file}')",
        "SELECT * FROM read_blob('{file}')",
        "SELECT * FROM parquet_metadata('{file}')",
        "SELECT * FROM glob('{wh}/**')",
        "SELECT * FROM iceberg_scan('{wh}/banking/accounts')",
        "SELECT * FROM query_table('{file}')",
        "SELECT * FROM read_parquet('{wh}/demo/banking-link.parquet')",
    ],
)
def test_a_demo_connection_reads_no_banking_file_by_any_path(
    lake: TwoTeams, demo: DuckDBEngine, template: str
) -> None:
    """Past every check, on the connection itself: DuckDB refuses the file (symlinks and `..` included)."""
    link = lake.warehouse / "demo" / "banking-link.parquet"
    if not link.is_symlink():
        link.symlink_to(lake.banking_file)
    file = lake.banking_file
    sql = lake.probe(template.replace("{wh}", str(lake.warehouse)).replace("{name}", file.name))
    assert "Permission Error" in raw(demo, sql)


def test_a_demo_table_stored_in_banking_s_folder_is_refused_by_name(
    lake: TwoTeams, demo: DuckDBEngine
) -> None:
    """A table the demo team may create (a python step's catalog) with its location in banking's folder."""
    catalog = guarded_catalog(open_catalog(lake.project), lake.context("demo").guard)  # type: ignore[arg-type]
    if not catalog.table_exists("demo.squatter"):
        location = (lake.warehouse / "banking" / "accounts").as_uri()
        catalog.create_table("demo.squatter", pa.schema([("iban", pa.string())]), location=location)
    with pytest.raises(AkkoError, match="demo.squatter is stored at .*outside the warehouse folders"):
        demo.query("SELECT * FROM demo.squatter", ["demo.squatter"])


def test_a_team_reading_another_namespace_gets_its_folder_too(lake: TwoTeams) -> None:
    from akko_orchestrator.config.models import TeamSettings
    from akko_orchestrator.config.tenancy import Tenancy

    tenancy = Tenancy({"demo": TeamSettings(namespaces=["demo"], reads=["banking"])})
    guard = tenancy.guard("demo", "probe")
    assert guard is not None
    folders = allowed_folders(guarded_catalog(open_catalog(lake.project), guard))
    assert folders == [str(lake.warehouse / "banking"), str(lake.warehouse / "demo")]
    assert allowed_folders(open_catalog(lake.project)) == [str(lake.warehouse)]  # no team: the warehouse


def test_the_state_folder_and_the_working_directorys_tmp_are_unreadable(
    lake: TwoTeams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = lake.project.state_dir
    (state / "airflow").mkdir(exist_ok=True)
    (state / "airflow" / "akko-dev-secrets.json").write_text('{"fernet_key": "planted"}\n')
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "spilled.csv").write_text("secret\nplanted\n")
    engine = DuckDBEngine(open_catalog(lake.project), protected=(state,))  # a process without teams
    assert engine.allowed == [str(lake.warehouse)]
    for sql in (
        f"SELECT * FROM read_blob('{state / 'catalog.db'}')",
        f"SELECT * FROM read_text('{state / 'airflow' / 'akko-dev-secrets.json'}')",
        f"SELECT * FROM read_json('{state}/airflow/*.json')",
        "SELECT * FROM read_csv('.tmp/spilled.csv')",
        f"SELECT * FROM read_csv('{tmp_path / '.tmp' / 'spilled.csv'}')",
    ):
        assert "Permission Error" in raw(engine, sql)
    spill = Path(engine.con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
    assert (
        spill.parent.stat().st_mode & 0o777 == 0o700 and spill.parent.parent.stat().st_mode & 0o777 == 0o700
    )
    assert spill.parent.parent.stat().st_uid == os.getuid() and not spill.is_relative_to(tmp_path)


def test_a_warehouse_holding_akkos_state_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    catalog = SqlCatalog(
        "t", uri=f"sqlite:///{tmp_path / 'state' / 'catalog.db'}", warehouse=tmp_path.as_uri()
    )
    with pytest.raises(AkkoError, match="holds AKKO's own"):
        DuckDBEngine(catalog)  # the catalog's database inside the warehouse
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=(tmp_path / "wh").as_uri())
    with pytest.raises(AkkoError, match="holds AKKO's own"):
        DuckDBEngine(catalog, protected=(tmp_path / "wh" / ".akko",))  # AKKO_STATE_DIR inside the warehouse


HIDDEN_WRITES = [
    "COPY (SELECT 1 AS x) TO '{demo}/copied.parquet' (USE_TMP_FILE false)",
    "COPY demo.sales TO '{demo}/copied.csv'",
    "EXPORT DATABASE '{demo}/exported'",
    "ATTACH '{demo}/attached.db' AS attached",
    "DETACH attached",
    "INSTALL httpfs",
    "LOAD parquet",
    "PRAGMA version",
    "PRAGMA table_info('demo.sales')",
    "SET threads = 1",
    "RESET threads",
    "CALL pragma_version()",
    "CREATE TABLE demo.made AS SELECT 1 AS x",
    "CREATE OR REPLACE VIEW demo.sales AS SELECT * FROM read_parquet('{demo}/*/data/*.parquet')",
    "INSERT INTO demo.sales VALUES (4, 40)",
    "DESCRIBE demo.sales",
    "SHOW TABLES",
    "SUMMARIZE demo.sales",
    "SELECT 1; COPY (SELECT 1) TO '{demo}/second.parquet'",
    "SELECT * FROM '{demo}/sales/data/*.parquet'",
    'SELECT * FROM "{demo}/sales/data/*.parquet"',
    "SELECT * FROM read_parquet('{demo}/sales/data/*.parquet')",
    "SELECT * FROM glob('{demo}/**')",
    'WITH "x.parquet" AS (SELECT * FROM "x.parquet") SELECT * FROM "x.parquet"',
    "SELECT * FROM (WITH q AS (SELECT 1 AS a) SELECT * FROM q), q",
    "SELECT * FROM demo.sales PIVOT (sum(amount) FOR sale_id IN (1)) JOIN read_csv('{demo}/x.csv') ON true",
]


@pytest.mark.parametrize("template", HIDDEN_WRITES)
def test_the_gate_runs_only_queries_of_the_registered_views(
    lake: TwoTeams, demo: DuckDBEngine, template: str
) -> None:
    """The engine's execution functions called directly, with text no SQL check has seen, inside the folders the
    connection may read: refused by DuckDB's own parser before anything runs."""
    demo.query("SELECT count(*) AS n FROM demo.sales", ["demo.sales"])  # the view exists in the database
    before = sorted((lake.warehouse / "demo").rglob("*"))
    text = template.replace("{demo}", str(lake.warehouse / "demo"))
    for run in (gate.run_query, gate.relation):
        with pytest.raises(gate.Refused):
            run(demo.con, text, frozenset({"demo.sales"}))
    assert sorted((lake.warehouse / "demo").rglob("*")) == before
    assert gate.run_query(demo.con, "SELECT sum(amount) FROM demo.sales", {"demo.sales"}).fetchall() == [
        (60,)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "CREATE OR REPLACE VIEW demo.sales AS SELECT * FROM read_parquet('{demo}/sales/data/*.parquet')",
        "CREATE OR REPLACE VIEW demo.sales AS SELECT * FROM iceberg_scan('{demo}/sales') JOIN '{demo}/x.csv' ON 1 = 1",
        "CREATE TABLE demo.made AS SELECT 1 AS x",
        "CREATE MACRO evil(x) AS x",
        "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
        "COPY (SELECT 1) TO '{demo}/copied.parquet'",
        "ATTACH '{demo}/attached.db' AS attached",
    ],
)
def test_registration_creates_only_schemas_and_iceberg_views(
    lake: TwoTeams, demo: DuckDBEngine, text: str
) -> None:
    tree = sqlglot.parse_one(text.replace("{demo}", str(lake.warehouse / "demo")), read="duckdb")
    with pytest.raises(gate.Refused, match="creates only the schemas and views"):
        gate.register(demo.con, tree)
    assert demo.query("SELECT count(*) AS n FROM demo.sales", ["demo.sales"]).to_pylist() == [{"n": 3}]


def test_each_run_time_layer_holds_alone(
    lake: TwoTeams, demo: DuckDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the SQL-text checks gone, the check of the DuckDB tree refuses a file; with that gone too, the gate."""
    import akko_orchestrator.plan.sql_sources as sources
    import akko_orchestrator.plan.sql_support as support
    import akko_orchestrator.plan.statements as statements

    sql = f'SELECT * FROM "{lake.warehouse}/demo/sales/data/*.parquet"'
    monkeypatch.setattr(statements, "query_issues", lambda _sql: [])
    monkeypatch.setattr(support, "embedded_unsupported", lambda _sql, _schema=None: [])
    with pytest.raises(AkkoError, match="not a lakehouse table it names"):
        demo.query(sql, ["demo.sales"])
    monkeypatch.setattr(sources, "unregistered", lambda _tree, _views, _dialect="duckdb": [])
    with pytest.raises(gate.Refused, match="reads only the lakehouse tables the query names"):
        demo.query(sql, ["demo.sales"])
    # a view an earlier query registered in the same database is not this query's
    with pytest.raises(gate.Refused, match="reads only the lakehouse tables the query names"):
        gate.run_query(demo.con, "SELECT * FROM demo.sales", {"demo.other"})


HOSTILE_ALIASES = [
    'total" AS BIGINT) AS "t", (SELECT string_agg(iban) FROM read_parquet(\'{data}/*.parquet\')) AS "x',
    'a" FROM (SELECT 1) --',
    'a"b',
    'x", "y',
    "x.y",
    "semi; COPY (SELECT 1) TO '/tmp/akko-probe.csv'",
    "new\nline",
    "back\\slash",
    "ünïcødé 🦆",
    "'single'",
]


def _aliased_sums(aliases: list[str]) -> str:
    """A Trino query summing `amount` once per alias (the aliases quoted by sql/build.py: only AKKO's own
    projection could break them)."""
    sums = [exp.alias_(exp.func("sum", column("amount")), identifier(alias)) for alias in aliases]
    return render(exp.select(*sums).from_(table("demo.sales")))


def test_a_hostile_alias_stays_one_column_name(lake: TwoTeams, demo: DuckDBEngine) -> None:
    """DuckDB sums BIGINTs into HUGEINT, which the engine casts back to BIGINT: by position, never by pasting
    the result's column names into SQL."""
    rng = random.Random(21)
    alphabet = "\"'`;()-/*.,\\ \n\tabcXYZ019_ü🦆"
    fuzzed = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(40)]
    for aliases in ([lake.probe(a) for a in HOSTILE_ALIASES], fuzzed, ["same", "same"]):
        result = demo.query(_aliased_sums(aliases), ["demo.sales"])
        assert result.column_names == [alias.lower() for alias in aliases]  # Trino's names are lower case
        assert all(t == pa.int64() for t in result.schema.types)
        assert [c.to_pylist() for c in result.columns] == [[60]] * len(aliases)
        assert SECRET not in str(result.to_pylist())


def test_a_bigint_sum_that_overflows_fails_as_on_trino(demo: DuckDBEngine) -> None:
    sql = "SELECT sum(x) AS s FROM (VALUES (BIGINT '9223372036854775807'), (BIGINT '1')) AS t(x)"
    with pytest.raises(AkkoError, match="column s overflows bigint"):
        demo.query(sql, [])


def test_each_team_has_its_own_database_and_the_cache_pays_once(lake: TwoTeams) -> None:
    """Steps of two teams in one process: two databases (the banking views are not in demo's), each opened once."""
    import time

    def opened(team: str) -> tuple[DuckDBEngine, float]:
        started = time.perf_counter()
        engine = lake.context(team).sql_engine
        assert isinstance(engine, DuckDBEngine)
        return engine, time.perf_counter() - started

    banking, _ = opened("banking")
    assert banking.query("SELECT count(*) AS n FROM banking.accounts", ["banking.accounts"]).to_pylist() == [
        {"n": 2}
    ]
    demo, _ = opened("demo")
    assert "does not exist" in raw(demo, "SELECT * FROM banking.accounts")  # not the same database
    again, cached = opened("banking")
    assert again.con.execute("SELECT count(*) FROM banking.accounts").fetchall() == [
        (2,)
    ]  # the same database
    assert cached < 0.1  # a cursor of the cached database, not a new one (~0.2 s with its extensions)


def test_temporary_folders_are_removed_when_the_process_is_done() -> None:
    """At exit; and one left by a process that ended without its exit handlers (a killed or forked task), by the
    next process that makes one."""
    script = (
        "from akko_orchestrator.engines.duckdb.sandbox import private_temp_directory\n"
        "print(private_temp_directory(), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    folder = Path(done.stdout.strip())
    assert folder.parent.is_dir() and not folder.exists()
    killed = subprocess.run(
        [sys.executable, "-c", script + "import os; os._exit(0)\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    left = Path(killed.stdout.strip())
    assert left.is_dir() and left.stat().st_mode & 0o777 == 0o700
    assert private_temp_directory().parent == left.parent
    assert not left.exists()
