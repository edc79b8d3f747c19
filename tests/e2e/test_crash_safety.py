"""Crash safety and exactly-once: a step's task process SIGKILLed after writing, after checking or after
publishing, then retried (same run id, next try) leaves its table exactly as one clean run does; two pipelines
racing appends on one table lose nothing.

Each task runs in a process of its own (tests/e2e/task_process.py: the compiled DAG's operator, executed as an
Airflow worker does), so the kill is a real SIGKILL of the process writing the table (`AKKO_FAILPOINTS`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.wap import audit_branches
from tests.conftest import copy_project

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent
TABLES = {"append_checked": "crash.checked", "append_plain": "crash.plain"}


def make_project(root: Path) -> Path:
    copy_project(root)
    for extra in (HERE / "crash").iterdir():
        if extra.is_file():
            shutil.copy(extra, root / "pipelines" / extra.name)
    return root


def step(
    root: Path,
    task: str,
    try_number: int,
    *runs: str,
    failpoint: str | None = None,
    spec: str = "crash_safety",
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AKKO_PROJECT_DIR": str(root), "AKKO_STATE_DIR": str(root / ".akko")}
    env.pop("AKKO_PROFILE", None)
    if failpoint:
        env["AKKO_FAILPOINTS"] = failpoint
    spec_file = str(root / "pipelines" / f"{spec}.yaml")
    command = [sys.executable, str(HERE / "task_process.py"), spec_file, task, str(try_number), *runs]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def table_of(root: Path, name: str):
    return open_catalog(load_project(root)).load_table(name)


def rows(root: Path, name: str) -> list[tuple[int, str]]:
    data = table_of(root, name).scan().to_arrow()
    return sorted(zip(data.column("id").to_pylist(), data.column("run").to_pylist(), strict=True))


def snapshots_of_run(root: Path, name: str, run: str) -> list[int]:
    """Snapshots in main's history that carry `run`'s identity."""
    from pyiceberg.table.snapshots import ancestors_of

    table = table_of(root, name)
    return [
        s.snapshot_id
        for s in ancestors_of(table.current_snapshot(), table.metadata)
        if s.summary and s.summary.additional_properties.get("akko.run-id") == run
    ]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    """The tables after two clean runs (r0, then r1) of each step."""
    root = make_project(tmp_path_factory.mktemp("clean") / "project")
    for task in TABLES:
        ok(step(root, task, 1, "r0", "r1"))
    return {task: rows(root, table) for task, table in TABLES.items()}


PHASES = [
    ("append_checked", "after-write"),
    ("append_checked", "after-check"),
    ("append_checked", "after-publish"),
    ("append_plain", "after-write"),
]


@pytest.mark.parametrize(("task", "phase"), PHASES, ids=[f"{t}-{p}" for t, p in PHASES])
def test_killed_then_retried_equals_one_clean_run(tmp_path: Path, clean: dict, task: str, phase: str) -> None:
    root = make_project(tmp_path / "project")
    table = TABLES[task]
    ok(step(root, task, 1, "r0"))
    before = table_of(root, table).current_snapshot().snapshot_id

    killed = step(root, task, 1, "r1", failpoint=phase)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    published = phase == "after-publish" or task == "append_plain"  # the plain write is its one commit
    main_now = table_of(root, table).current_snapshot().snapshot_id
    assert (main_now != before) is published  # before the publish, main has not moved

    retried = ok(step(root, task, 2, "r1"))
    assert ('"already_published": true' in retried) is published
    assert rows(root, table) == clean[task]  # no duplicates, no missing rows
    assert len(rows(root, table)) == 2000
    assert len(snapshots_of_run(root, table, "r1")) == 1
    assert audit_branches(table_of(root, table)) == []


def test_two_pipelines_racing_on_one_table_lose_nothing(tmp_path: Path) -> None:
    """Two processes append with checks to one table at the same time, five runs each: whoever publishes
    second replays its write on top of the other's (never fast-forwarding over it)."""
    root = make_project(tmp_path / "project")
    ok(step(root, "append_checked", 1, "r0"))
    env = {**os.environ, "AKKO_PROJECT_DIR": str(root), "AKKO_STATE_DIR": str(root / ".akko")}
    env.pop("AKKO_PROFILE", None)

    def start(spec: str, task: str, runs: list[str]) -> subprocess.Popen[str]:
        command = [
            sys.executable,
            str(HERE / "task_process.py"),
            str(root / "pipelines" / f"{spec}.yaml"),
            task,
            "1",
        ]
        return subprocess.Popen(
            [*command, *runs], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    ours = start("crash_safety", "append_checked", [f"r{n}" for n in range(10, 15)])
    theirs = start("crash_rival", "append_rival", [f"r{n}" for n in range(20, 25)])
    for process in (ours, theirs):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    got = rows(root, "crash.checked")
    expected = sorted(
        (n * 1000 + i, f"r{n}") for n in [0, *range(10, 15), *range(20, 25)] for i in range(1000)
    )
    assert got == expected
    assert audit_branches(table_of(root, "crash.checked")) == []
