"""Checks on a real lakehouse whose columns have hostile names, and the probes of class 1 (SQL built as text).

A pyiceberg table on a temporary SQL catalog, written through AKKO's writer, read by AKKO's DuckDB engine: every
check kind on columns named `a"b`, `c'd`, `g -- h`, `m\\nn`, `_akko_t`, `c0_failing`... gives the answer counted
in Python. Then the probes: a check whose column, accepted value, relationship field, expression or `sql` tries to
end AKKO's statement and read `banking.secrets` is either refused with a clear error or read as a plain name or
value; no statement ever reads that table (each statement AKKO sends, with the tables it registers, is recorded
on the way to the real engine).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import AkkoError, SpecError
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.quality.runner import run_checks
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.spec import checks as models
from akko_orchestrator.spec.loader import load_spec
from akko_orchestrator.spec.models import Check, Output
from akko_orchestrator.sql.parse import SqlRefused
from tests.conftest import copy_project

NOW = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
SECRET = "TOP-SECRET-42"
TABLE = "demo.hostile"
A, C, E, G, IN, K, M, U = 'a"b', "c'd", "e`f", "g -- h", "i /* j", "k;l", "m\nn", "ü€"
ROW, T, KEY, FAILING, SELECT = "__akko_row", "_akko_t", "_akko_k", "c0_failing", "SELECT"
DATA = {
    A: pa.array([1, None, 3, 4, 5, 6], pa.int64()),
    C: ["x", "y", None, "w", "v", "u"],
    E: pa.array([1, 1, 2, 3, 3, 3], pa.int64()),
    G: ["p", "p", "q", None, "r", "r"],
    K: pa.array([1, 1, 2, 2, 3, 3], pa.int64()),
    IN: ["EU'", 'US"', "--", None, "x') OR 1=1 --", "EU'"],
    M: pa.array([0.5, 10.0, -1.0, 3.0, None, 99.0]),
    U: pa.array([NOW - dt.timedelta(hours=h) for h in (30, 20, 10, 5, 3, 2)], pa.timestamp("us", "UTC")),
    ROW: pa.array([10, 11, 12, 13, None, 99], pa.int64()),
    T: pa.array([1, 2, 3, -4, 5, 6], pa.int64()),
    FAILING: pa.array([1, None, 1, 1, 1, 1], pa.int64()),
    SELECT: ["a", "b", "x", "d", "x", "f"],
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepContext]:
    root = copy_project(tmp_path_factory.mktemp("hostile") / "project")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AKKO_PROJECT_DIR", str(root))
        env.setenv("AKKO_STATE_DIR", str(root / ".akko"))
        env.delenv("AKKO_PROFILE", raising=False)
        context = StepContext(load_project(root), pipeline_id="p", step_id="s", run_id="r")
        write_table(context.catalog, Output(table=TABLE), pa.table(DATA))
        write_table(
            context.catalog, Output(table="demo.keys"), pa.table({KEY: pa.array([10, 11, 12], pa.int64())})
        )
        write_table(context.catalog, Output(table="banking.secrets"), pa.table({"secret": [SECRET]}))
        yield context
        context.close()


class Recording:
    """The real engine, with each statement it is sent and the tables it registers for it kept."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.sent: list[tuple[str, list[str]]] = []

    def query(self, sql: str, tables: list[str], versions: Any = None) -> pa.Table:
        self.sent.append((sql, tables))
        return self.engine.query(sql, tables, versions=versions)

    def query_aggregates(self, sql: str, tables: list[str], versions: Any = None) -> pa.Table:
        self.sent.append((sql, tables))
        return self.engine.query_aggregates(sql, tables, versions=versions)

    def never_read(self, table: str) -> None:
        """Neither registered for a statement nor a table any statement names (its text may quote the name)."""
        import sqlglot
        from sqlglot import exp

        assert self.sent, "nothing was sent"
        for sql, tables in self.sent:
            named = {f"{t.db}.{t.name}" for t in sqlglot.parse_one(sql, read="trino").find_all(exp.Table)}
            assert table not in tables and table not in named, sql


def _check(severity: str = "error", **kind: Any) -> Check:
    """A check as the generator gets it, past the spec's name rules (model_construct): the generator must hold."""
    return Check.model_construct(severity=severity, name=None, **kind)


HOSTILE_CHECKS = [  # (check, failing rows counted by hand from DATA)
    (_check(not_null=[A, C]), 2),
    (_check(unique=[E]), 3),
    (_check(unique=[G, K]), 2),
    (
        _check(accepted_values=models.AcceptedValues.model_construct(column=IN, values=["EU'", 'US"', "--"])),
        1,
    ),
    (_check(range=models.RangeCheck.model_construct(column=M, min=0, max=50)), 2),
    (_check(relationships=models.Relationship.model_construct(column=ROW, to="demo.keys", field=KEY)), 2),
    (_check(expression=f'"{T}" > 0 AND "{FAILING}" IS NOT NULL'), 2),
    (_check(sql=f"SELECT * FROM {TABLE} WHERE \"{SELECT}\" = 'x'"), 2),
    (_check(freshness=models.Freshness.model_construct(column=U, max_age="1h")), None),
    (_check(row_count=models.RowCount.model_construct(min=6, max=6)), None),
]


def test_every_check_kind_is_right_on_hostile_column_names(ctx: StepContext) -> None:
    checks = [check for check, _ in HOSTILE_CHECKS]
    report = run_checks(ctx.sql_engine, TABLE, checks, None, None, now=NOW)
    assert [r.failing_rows for r in report.results] == [failing for _, failing in HOSTILE_CHECKS]
    assert [r.passed for r in report.results][-2:] == [False, True]  # 2h old > 1h; exactly 6 rows
    for result in report.results:
        if result.failing_rows:
            assert result.sample and result.sample["rows"], result  # sample queries ran too
    informed = run_checks(ctx.sql_engine, TABLE, checks, None, None, now=NOW, catalog=ctx.catalog)
    assert informed.results == report.results


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.sampled_from(["EU'", 'US"', "--", "x') OR 1=1 --", "'", "\\", "a\nb", "ü"]), min_size=1
    )
)
def test_accepted_values_are_values_whatever_they_hold(ctx: StepContext, values: list[str]) -> None:
    check = _check(accepted_values=models.AcceptedValues.model_construct(column=IN, values=values))
    [result] = run_checks(ctx.sql_engine, TABLE, [check], None, None, now=NOW).results
    assert result.failing_rows == sum(1 for v in DATA[IN] if v is not None and v not in values)


# -- probes: end AKKO's statement, read banking.secrets --------------------------------------------------------

ESCAPES = [
    f'{A}" FROM banking.secrets --',
    'x" IS NULL) FROM banking.secrets; --',
    f'{SELECT}") AS c0_failing FROM banking.secrets --',
]


@pytest.mark.parametrize("column", ESCAPES)
def test_a_column_that_ends_the_statement_is_one_unknown_column(ctx: StepContext, column: str) -> None:
    engine = Recording(ctx.sql_engine)
    for check in (
        _check(not_null=[column]),
        _check(unique=[column, A]),
        _check(range=models.RangeCheck.model_construct(column=column, min=0, max=1)),
        _check(relationships=models.Relationship.model_construct(column=A, to="demo.keys", field=column)),
    ):
        with pytest.raises(AkkoError) as raised:
            run_checks(engine, TABLE, [check], None, None, now=NOW)
        message = str(raised.value)
        assert SECRET not in message and column.lower() in message.lower()  # named as the one name it is
    engine.never_read("banking.secrets")


@pytest.mark.parametrize(
    "value", ["x') OR 1=1) FROM banking.secrets --", "'; SELECT secret FROM banking.secrets --"]
)
def test_an_accepted_value_that_ends_the_statement_is_a_value(ctx: StepContext, value: str) -> None:
    engine = Recording(ctx.sql_engine)
    check = _check(accepted_values=models.AcceptedValues.model_construct(column=C, values=[value]))
    [result] = run_checks(engine, TABLE, [check], None, None, now=NOW).results
    assert result.failing_rows == 5  # every non-NULL value differs from it
    assert SECRET not in repr(result.sample)
    engine.never_read("banking.secrets")


@pytest.mark.parametrize(
    ("expression", "refusal"),
    [
        ("1) FROM banking.secrets --", "')' cannot come here"),
        ("true) OR (SELECT count(*) FROM banking.secrets) > 0 OR (true", "')' cannot come here"),
        ("true UNION SELECT secret FROM banking.secrets", "'UNION' cannot come here"),
        ("(SELECT count(*) FROM banking.secrets) > 0", "reads a table"),
        ("EXISTS (SELECT 1 FROM banking.secrets)", "reads a table"),
        ('"a""b" > 0; SELECT * FROM banking.secrets', "'SELECT' cannot come here"),
    ],
)
def test_an_expression_that_is_not_one_condition_is_refused(
    ctx: StepContext, expression: str, refusal: str
) -> None:
    engine = Recording(ctx.sql_engine)
    with pytest.raises(SqlRefused, match=re.escape(refusal)) as raised:
        run_checks(engine, TABLE, [_check(expression=expression)], None, None, now=NOW)
    assert str(raised.value).startswith(f"check 'expression_1' of {TABLE}: `expression`: ")
    assert engine.sent == []  # refused before anything runs


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        (f"SELECT * FROM {TABLE}; SELECT * FROM banking.secrets", "found 2 statements"),
        ("DELETE FROM banking.secrets", "not DELETE"),
        (f"SELECT * FROM {TABLE}) AS x, banking.secrets --", "does not parse"),
    ],
)
def test_a_sql_check_that_is_not_one_query_is_refused(ctx: StepContext, sql: str, refusal: str) -> None:
    engine = Recording(ctx.sql_engine)
    with pytest.raises(SqlRefused, match=re.escape(refusal)):
        run_checks(engine, TABLE, [_check(sql=sql)], None, None, now=NOW)
    assert engine.sent == []


def test_validate_refuses_the_expression_at_its_place(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "pipeline: p\nowner: o\nteam: t\nsteps:\n  - id: s\n    kind: sql\n    sql: SELECT 1 AS id\n"
        "    output: {table: demo.t}\n    checks:\n      - expression: id > 0) FROM banking.secrets --\n"
    )
    pipeline, source = load_spec(spec, "spec.yaml")
    with pytest.raises(SpecError) as raised:
        build_plan(pipeline, source)
    [issue] = raised.value.issues
    assert (issue.line, issue.column, issue.field) == (10, 27, "steps[0].checks[0].expression")
    assert issue.reason.startswith("')' cannot come here: an `expression` is one Trino condition")
