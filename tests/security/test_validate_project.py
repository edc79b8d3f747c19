"""What `akko validate` accepts must be what the project runs (issue 21, class 11): one file is judged against the
whole project, and a 1,000-step spec is planned in time linear in its size, each SQL text parsed once (counted in
sqlglot's own parses; no timed test)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.plan.ordering import dependency_order, find_cycle
from akko_orchestrator.spec.validate import validate_path
from tests.conftest import copy_project

AKKO_YAML = (
    "lakehouse: akko\nteams:\n  demo:\n    namespaces: [demo]\nprofiles:\n  local:\n    engine: embedded\n"
)


def spec(pipeline: str, sql: str, table: str) -> str:
    return (
        f"pipeline: {pipeline}\nowner: me\nteam: demo\nsteps:\n  - id: a\n    kind: sql\n    sql: {sql}\n"
        f"    output: {{table: {table}}}\n"
    )


def validate(project: Path, *args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(app, ["--project", str(project), "validate", *args])


def test_the_repos_mart_is_valid_alone_as_in_the_project(tmp_path: Path) -> None:
    """sales_by_region_mart reads demo.sales, which akko_e2e_pipeline writes: valid alone as in the whole."""
    project = copy_project(tmp_path / "demo", teams=True)
    alone = validate(project, str(project / "pipelines" / "sales_by_region_mart.yaml"))
    assert alone.exit_code == 0, alone.output
    assert "valid pipelines/sales_by_region_mart.yaml" in alone.output
    assert "1 of 1 spec file(s) valid." in alone.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "akko.yaml").write_text(AKKO_YAML)
    specs = tmp_path / "pipelines"
    (specs / "marts").mkdir(parents=True)
    (specs / "writer.yaml").write_text(spec("writer", "SELECT 1 AS x", "demo.base"))
    (specs / "marts" / "reader.yaml").write_text(spec("reader", "SELECT x FROM demo.base", "demo.mart"))
    (specs / "marts" / "orphan.yaml").write_text(spec("orphan", "SELECT x FROM demo.nowhere", "demo.orphan"))
    (specs / "zz_same_id.yaml").write_text(spec("writer", "SELECT 2 AS x", "demo.other"))
    (specs / "bomb.yaml").write_text("a: &a [1, *a]\n")  # a broken spec is context for nothing
    return tmp_path


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("pipelines/marts/reader.yaml", []),  # reads what writer.yaml writes
        ("pipelines/marts", ["pipelines/marts/orphan.yaml:7:24: steps[0].sql: table demo.nowhere is read"]),
        ("pipelines/writer.yaml", []),  # the first of two files with one id
        ("pipelines/zz_same_id.yaml", ["pipelines/zz_same_id.yaml:1:11: pipeline: duplicate pipeline id"]),
    ],
)
def test_one_file_or_folder_is_judged_against_the_whole_project(
    project: Path, target: str, expected: list[str]
) -> None:
    """Only the files asked are reported on, each as the whole project's validation would report it."""
    whole = validate_path(project / "pipelines", project, lambda table: False, "local", ["local"], "embedded")
    part = validate_path(project / target, project, lambda table: False, "local", ["local"], "embedded")
    found = [issue.format() for issue in part.issues]
    assert len(found) == len(expected)
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start), line
    asked = {issue.format() for issue in whole.issues if issue.file in part.files}
    assert set(found) == asked


def chain_spec(steps: int) -> str:
    lines = ["pipeline: chain", "owner: me", "team: demo", "steps:"]
    lines += ["  - id: s0", "    kind: sql", "    sql: SELECT 1 AS a, 2 AS b", "    output: {table: demo.t0}"]
    for i in range(1, steps):
        j = max(0, i - 1 - i % 3)
        sql = f"SELECT x.a, x.b - {i} AS b FROM demo.t{i - 1} x JOIN demo.t{j} y ON x.a = y.a WHERE x.b > {i}"
        lines += [f"  - id: s{i}", "    kind: sql", f"    sql: {sql}", f"    output: {{table: demo.t{i}}}"]
        if i % 10 == 0:
            lines += ["    checks:", "      - not_null: [a]", f"      - expression: b > {i}"]
    return "\n".join(lines) + "\n"


def test_a_1000_step_spec_parses_each_sql_text_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sqlglot parse is counted by text (a spy around the real parser, whatever reaches it): each of the 1,099 texts (1,000
    steps, 99 check expressions) once, through the whole validation (tables read, statement kinds, the Trino
    allow-list, the embedded engine's checks, tenancy)."""
    from sqlglot.parser import Parser

    (tmp_path / "akko.yaml").write_text(AKKO_YAML)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "chain.yaml").write_text(chain_spec(1000))
    parsed: Counter[str] = Counter()
    real_parse = Parser.parse

    def counting(self: Parser, raw_tokens: list, sql: str, **options: object) -> list:
        parsed[sql] += 1
        return real_parse(self, raw_tokens, sql, **options)

    monkeypatch.setattr(Parser, "parse", counting)
    report = validate_path(
        tmp_path / "pipelines", tmp_path, lambda table: False, "local", ["local"], "embedded"
    )
    assert report.issues == []
    assert max(parsed.values()) == 1
    assert len(parsed) <= 1000 + 99 + 1  # the queries, the wrapped check expressions (and no other text)
    plan = report.plans["pipelines/chain.yaml"]
    assert [s.id for s in plan.steps] == [f"s{i}" for i in range(1000)]
    assert plan.step("s998").upstream == ("s995", "s997")


def waves(upstream: dict[str, list[str]]) -> list[str]:
    """The order as the planner has always given it (repeated scans for ready steps): the reference."""
    order: list[str] = []
    pending = list(upstream)
    while pending:
        ready = [s for s in pending if all(u in order for u in upstream[s])]
        if not ready:
            return order + pending
        order.extend(ready)
        pending = [s for s in pending if s not in ready]
    return order


@pytest.mark.parametrize("seed", range(30))
def test_the_linear_order_is_the_planners_order(seed: int) -> None:
    """Random graphs (some with cycles): the same order as the reference, the same leftovers, a true cycle."""
    rnd = random.Random(seed)
    steps = [f"s{i}" for i in range(rnd.randrange(1, 60))]
    rnd.shuffle(steps)
    upstream: dict[str, list[str]] = {}
    for i, step in enumerate(steps):
        pool = [s for s in (steps[:i] if rnd.random() < 0.9 else steps) if s != step]
        upstream[step] = sorted(rnd.sample(pool, min(len(pool), rnd.randrange(0, 4))))
    order, pending = dependency_order(upstream)
    assert order + pending == waves(upstream)
    if pending:
        cycle = find_cycle(pending, upstream)
        assert all(cycle[(i + 1) % len(cycle)] in upstream[step] for i, step in enumerate(cycle))


def test_the_checks_sharing_one_parse_never_change_its_tree(tmp_path: Path) -> None:
    """Within one plan every check reads the same parsed statements (plan/sql_parse.py): none may rewrite them,
    or a later check would judge another query than the one written."""
    from akko_orchestrator.config.tenancy import Tenancy
    from akko_orchestrator.errors import SpecError
    from akko_orchestrator.plan.builder import build_plan
    from akko_orchestrator.plan.sql_parse import parsing_once
    from akko_orchestrator.plan.sql_refs import parse_trino
    from akko_orchestrator.spec.loader import load_spec

    sql = (
        "SELECT r.id, current_date - DATE '2024-01-01' AS d, lower(o.name) AS n FROM iceberg.demo.raw r "
        "JOIN demo.other o ON r.id = o.id ORDER BY 1"
    )
    check = "SELECT id FROM demo.raw WHERE amount < 0"
    (tmp_path / "spec.yaml").write_text(
        f'pipeline: p\nowner: me\nteam: demo\nsteps:\n  - id: a\n    kind: sql\n    sql: "{sql}"\n'
        f'    output: {{table: demo.out}}\n    checks:\n      - sql: "{check}"\n      - expression: id > 0\n'
    )
    pipeline, source = load_spec(tmp_path / "spec.yaml")
    tenancy = Tenancy.from_raw({"demo": {"namespaces": ["demo"]}})
    with parsing_once():
        trees = [*parse_trino(sql), *parse_trino(check)]
        before = [repr(tree) for tree in trees]
        with pytest.raises(
            SpecError
        ) as refused:  # DATE - DATE: the embedded engine answers otherwise (typed)
            build_plan(pipeline, source, engine="embedded", tenancy=tenancy)
        assert "DATE - DATE" in str(refused.value)
        assert [repr(tree) for tree in trees] == before
