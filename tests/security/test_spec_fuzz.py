"""Many malformed and hostile spec files, made from one valid spec by seeded mutations: random bytes, truncations,
a wrong value at every field (other types, huge numbers, huge text, deep nesting, impossible dates), NUL bytes, BOMs,
CRLF line ends, tabs. Each goes through `akko validate` (the library, then once the real `akko` process) and
through the DAG parse path (`load_dag`, what a shim calls), beside a valid spec. Whatever a file holds: no error
AKKO did not expect, every problem located at file:line, exit code 1, and the valid spec still valid and loaded.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akko_orchestrator.compiler.entry import load_dag
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.spec.validate import validate_path

AKKO_YAML = (
    "lakehouse: akko\nteams:\n  demo:\n    namespaces: [demo]\nprofiles:\n  local:\n    engine: embedded\n"
)
BASE = """\
pipeline: fuzzed
description: Every kind of field a spec has, for mutating.
owner: me
team: demo
tags: [demo]
schedule: "0 6 * * *"
start_date: 2024-01-01
defaults: {retries: 1, retry_delay: 10s, timeout: 5m}
steps:
  - id: land
    kind: ingest
    source: {files: raw/demo/*.csv}
    output: {table: demo.raw, mode: append}
  - id: build
    kind: sql
    sql: |
      SELECT id, sum(amount) AS total
      FROM demo.raw
      WHERE amount > 0
      GROUP BY id
    output: {table: demo.totals, mode: merge, keys: [id], partition_by: [id]}
    checks:
      - not_null: [id]
      - unique: [id]
      - range: {column: total, min: 0, max: 1000}
      - accepted_values: {column: id, values: [1, 2, 3]}
      - expression: total >= 0
      - row_count: {min: 1, max_shrink: 50%}
  - id: report
    kind: python
    function: reports:build
    inputs: [demo.totals]
    after: [build]
    params: {top: 3, title: Totals}
"""
GOOD = (
    "pipeline: good\nowner: me\nteam: demo\nsteps:\n  - id: a\n    kind: sql\n    sql: SELECT 1 AS x\n"
    "    output: {table: demo.good}\n"
)
WRONG_VALUES: list[Any] = [
    None,
    True,
    -1,
    10**30,
    1e308,
    "x" * 20_000,
    "2024-13-01",
    "ümlaut \u202e ǅ",
    [],
    {"a": {"b": {"c": [1, [2, [3]]]}}},
    [[[[[[[[[[[[["deep"]]]]]]]]]]]]] * 3,
    "SELECT " + "(" * 200 + "1" + ")" * 200,
]

SQL_FIELDS = [("steps", 1, "sql"), ("steps", 1, "checks", 4, "expression")]
HOSTILE_SQL = [
    "SELECT " + "(" * 600 + "1" + ")" * 600 + " AS x",
    "SELECT " + " + ".join(["1"] * 400) + " AS x",
    "SELECT " + "abs(" * 300 + "1" + ")" * 300 + " AS x",
    "SELECT 1 AS x -- " + "x" * 300_000,
    " UNION ALL ".join(f"SELECT {i} AS x" for i in range(700)),
    "SELECT CASE " + "WHEN a = 1 THEN CASE " * 120 + "1" + " END" * 120 + " AS x FROM demo.raw",
    "SELECT 'unclosed",
    "",
]


def _paths(node: Any, at: tuple = ()) -> Iterator[tuple]:
    """Every field path of a document, containers and leaves."""
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


def _replaced(document: Any, path: tuple, value: Any) -> Any:
    changed = copy.deepcopy(document)
    if not path:
        return value
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def corpus() -> dict[str, bytes]:
    """File name -> content: the mutations of BASE (seeded: the same corpus on every run)."""
    rnd = random.Random(21)
    text = BASE.encode()
    files: dict[str, bytes] = {}
    document = yaml.safe_load(BASE)
    for number, path in enumerate(_paths(document)):
        for value in rnd.sample(WRONG_VALUES, 3):
            dumped = yaml.safe_dump(_replaced(document, path, value), sort_keys=False, allow_unicode=True)
            files[f"field_{number:03d}_{len(files):04d}.yaml"] = dumped.encode()
    for number, path in enumerate(SQL_FIELDS):
        for index, sql in enumerate(HOSTILE_SQL):
            dumped = yaml.safe_dump(_replaced(document, path, sql), sort_keys=False, width=10**9)
            files[f"sql_{number}_{index}.yaml"] = dumped.encode()
    for index in range(40):
        files[f"truncated_{index:02d}.yaml"] = text[: rnd.randrange(1, len(text))]
    for index in range(20):
        files[f"random_{index:02d}.yaml"] = rnd.randbytes(rnd.randrange(1, 400))
    for index in range(30):
        flipped = bytearray(text)
        for _ in range(rnd.randrange(1, 6)):
            flipped[rnd.randrange(len(flipped))] = rnd.randrange(256)
        files[f"flipped_{index:02d}.yaml"] = bytes(flipped)
    for index in range(5):
        at = rnd.randrange(len(text))
        files[f"nul_{index}.yaml"] = text[:at] + b"\x00" + text[at:]
    files["bom.yaml"] = b"\xef\xbb\xbf" + text
    files["bom_twice.yaml"] = b"\xef\xbb\xbf\xef\xbb\xbf" + text
    files["crlf.yaml"] = text.replace(b"\n", b"\r\n")
    files["cr_only.yaml"] = text.replace(b"\n", b"\r")
    files["tabs.yaml"] = text.replace(b"  ", b"\t")
    files["deep.yaml"] = b"pipeline: deep\nparams: " + b"{a: " * 5000 + b"1" + b"}" * 5000 + b"\n"
    files["wide.yaml"] = b"pipeline: wide\ntags: [" + b"x, " * 300_000 + b"x]\n"
    files["empty.yaml"] = b""
    files["only_comment.yaml"] = b"# nothing\n"
    files["a_list.yaml"] = b"- pipeline: x\n"
    files["a_scalar.yaml"] = b"just text\n"
    return {
        name: content.replace(b"pipeline: fuzzed", f"pipeline: f{i}".encode())
        for i, (name, content) in enumerate(files.items())
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "akko.yaml").write_text(AKKO_YAML)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "good.yaml").write_text(GOOD)
    for name, content in corpus().items():
        (root / "pipelines" / name).write_bytes(content)
    return root


def test_the_corpus_is_large_and_mostly_invalid(project: Path) -> None:
    assert len(list((project / "pipelines").glob("*.yaml"))) > 300


def test_validate_locates_every_problem_and_keeps_the_valid_spec(project: Path) -> None:
    report = validate_path(
        project / "pipelines", project, lambda table: False, "local", ["local"], "embedded"
    )
    assert report.crashes == []  # nothing AKKO did not expect
    assert "pipelines/good.yaml" in report.valid_files
    assert len(report.invalid_files) > len(report.files) // 2
    unlocated = [issue.format() for issue in report.issues if issue.line is None or not issue.file]
    assert unlocated == []
    assert all(len(issue.format()) < 2_000 for issue in report.issues)  # no value echoed whole


def test_the_dag_parse_path_raises_only_located_errors(project: Path) -> None:
    dags = project / "dags"
    dags.mkdir(exist_ok=True)
    shim = str(dags / "shim.py")
    assert load_dag(shim, "../pipelines/good.yaml") is not None
    for spec in sorted((project / "pipelines").glob("*.yaml")):
        try:
            load_dag(shim, f"../pipelines/{spec.name}")
        except AkkoError as exc:
            first = str(exc).splitlines()[0]
            assert first.startswith(f"pipelines/{spec.name}:"), first
            assert first.split(":")[1].isdigit(), first  # at a line


def test_the_akko_process_exits_1_without_a_traceback(project: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "akko_orchestrator.cli.main", "--project", str(project), "validate"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert "valid pipelines/good.yaml" in run.stdout
    assert "AKKO could not validate" not in run.stderr
