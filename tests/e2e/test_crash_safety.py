"""Crash safety and exactly-once: a step's task process SIGKILLed after writing, after checking or after
publishing, then retried (same run id, next try) leaves its table exactly as one clean run does; two pipelines
racing appends on one table lose nothing; a whole `akko run` process group SIGKILLed at random moments, ten
times, then run again, leaves every run's rows exactly once and no lock, branch or process behind.

Each task runs in a process of its own (tests/e2e/task_process.py: the compiled DAG's operator, executed as an
Airflow worker does), so the kill is a real SIGKILL of the process writing the table (`AKKO_FAILPOINTS`). The
whole-process test kills real `akko run` subprocesses (Airflow and the step in one process group) from outside."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.wap import audit_branches
from tests.conftest import copy_project
from tests.e2e.crash.crash_functions import STARTED_DIR, WHOLE_ROWS
from tests.fixtures.cli import akko, cli_env

if TYPE_CHECKING:
    from pyiceberg.table.snapshots import Snapshot

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
    """The table in `root`'s own state folder, as the task processes (`step`) and `akko run` see it, whatever this
    process's environment holds (a module fixture's setup runs before the autouse fixture that hides the session
    stack's AKKO_STATE_DIR)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AKKO_STATE_DIR", str(root / ".akko"))
        env.delenv("AKKO_PROFILE", raising=False)
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


# The whole `akko run` process SIGKILLed from outside, at random moments.

WHOLE_PIPELINE = "crash_whole_process"  # tests/e2e/crash/crash_whole_process.yaml
WHOLE_TABLE = "crash.whole"
# What each of the ten kills aims at; the phase it really hit is read back from the lakehouse afterwards.
# `startup`: a delay from the launch (Airflow's start-up); `step`: from the step function's start, over the
# whole step; the others: from the start of that phase of the checked append, seen from outside as the step's
# start file (before-write) or the table's next metadata file (between: the audit-branch write; after-publish
# and just-published, its first moments, while Airflow has not yet recorded the task's success).
TARGETS = ("startup", "step", "step", "before-write", "before-write", "between", "between", "between")
TARGETS += ("after-publish", "just-published")
STEP_PHASES = {"before-write": None, "between": "after-check", "after-publish": "after-publish"}  # failpoints
PUBLISHED = ("after-publish", "finished first")  # the phases of runs whose rows must be in the table
POLL = 0.005  # seconds between looks at the running process's files


@dataclass(frozen=True)
class Timing:
    """One clean run, in seconds: from the launch to the step function's start, then from the step's start to
    the write commit (audit branch), the publish commit and the process's exit."""

    startup: float
    write: float
    publish: float
    exit: float

    def delay(self, target: str, rng: random.Random) -> float:
        low, high = {
            "startup": (0.2, self.startup),
            "step": (0.0, 0.95 * self.exit),
            "before-write": (0.0, self.write),
            "between": (0.0, self.publish - self.write),
            "after-publish": (0.0, 0.8 * (self.exit - self.publish)),  # most of it: kill before the exit
            "just-published": (0.0, 0.1),  # Airflow records the task's success ~0.05-0.1 s after the publish
        }[target]
        return rng.uniform(low, high)


@dataclass
class Kill:
    target: str
    delay: float
    failpoint: str | None = None  # only to cover a phase no random kill hit
    killed: bool = False
    run_id: str | None = None  # None: killed before the step function began
    phase: str = "finished first"  # the run ended (exit 0) before its kill: it published
    dag_run: str | None = None  # the killed run's DagRun state left in Airflow's metadata DB

    def __str__(self) -> str:
        how = f"failpoint {self.failpoint}" if self.failpoint else f"{self.target} + {self.delay:.3f}s"
        return f"{how:<28} -> {self.phase:<18} run {self.run_id} (DagRun {self.dag_run})"


def until(process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 300) -> bool:
    """Poll `ready` while `process` lives; False if it ended first."""
    give_up = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < give_up:
        if ready():
            return True
        time.sleep(POLL)
    return False


def group_gone(pgid: int, wait: float = 5.0) -> bool:
    give_up = time.monotonic() + wait
    while time.monotonic() < give_up:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


class WholeRuns:
    """`akko run crash_whole_process` as a user starts it, each in its own session (process group)."""

    def __init__(self, root: Path):
        self.root, self.state = root, root / ".akko"
        self.marks = self.state / STARTED_DIR
        self.logs: list[Path] = []
        self.live: subprocess.Popen[bytes] | None = None
        self.metadata_dir: Path | None = None

    def launch(self, **extra: str) -> subprocess.Popen[bytes]:
        log = self.root.parent / f"akko-run-{len(self.logs) + 1}.log"
        self.logs.append(log)
        command = [sys.executable, "-m", "akko_orchestrator.cli.main", "run", WHOLE_PIPELINE]
        with log.open("wb") as sink:
            self.live = subprocess.Popen(
                command,
                env=cli_env(self.root, self.state, **extra),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.live

    def stop(self) -> None:
        """A test failing midway leaves no group running."""
        if self.live is not None and self.live.poll() is None:
            os.killpg(self.live.pid, signal.SIGKILL)
            self.live.wait()

    def started(self) -> dict[str, float]:
        """Run id -> when its step function began, for every run that got that far."""
        found = {}
        for mark in self.marks.glob("*") if self.marks.is_dir() else ():
            if mark.suffix != ".tmp":
                stamp, run_id = mark.read_text().splitlines()[:2]
                found[run_id] = float(stamp)
        return found

    def metadata_files(self) -> int:
        """How many commits the table has had (one metadata file each, written just before the commit)."""
        if self.metadata_dir is None:  # looked up once: the kills' anchors poll this every few milliseconds
            self.metadata_dir = Path(urlparse(table_of(self.root, WHOLE_TABLE).location()).path) / "metadata"
        return sum(1 for name in os.listdir(self.metadata_dir) if name.endswith(".metadata.json"))

    def clean(self) -> tuple[str, Timing]:
        """A run to completion, timed: the kills' delays are drawn over its phases."""
        known, launched = set(self.started()), time.time()
        process = self.launch()
        assert process.wait(timeout=600) == 0, self.logs[-1].read_text()[-3000:]
        ended = time.time()
        assert group_gone(process.pid), f"run {process.pid} left a process behind"
        ((run_id, began),) = ((r, t) for r, t in self.started().items() if r not in known)
        table = table_of(self.root, WHOLE_TABLE)
        written = next(s for s in table.metadata.snapshots if run_of(s) == run_id).timestamp_ms / 1000
        published = table.metadata.last_updated_ms / 1000  # the publish is the run's last commit to it
        return run_id, Timing(began - launched, written - began, published - began, ended - began)

    def anchor(self, target: str) -> Callable[[], bool]:
        """When the kill's delay starts counting: at once, at the step's start, or at the table's next commit
        (the write to the audit branch) or the one after (the publish)."""
        marks, commits = len(self.started()), self.metadata_files()
        if target == "startup":
            return lambda: True
        if target in ("between", "after-publish", "just-published"):
            wanted = commits + (1 if target == "between" else 2)  # the write's commit, then the publish
            return lambda: self.metadata_files() >= wanted
        return lambda: self.marks.is_dir() and len(os.listdir(self.marks)) > marks

    def kill(self, kill: Kill) -> Kill:
        """Launch, wait for the kill's anchor, then its delay, then SIGKILL the whole process group."""
        known, ready = set(self.started()), self.anchor(kill.target)
        process = self.launch(**({"AKKO_FAILPOINTS": kill.failpoint} if kill.failpoint else {}))
        if kill.failpoint is not None:
            process.wait(timeout=600)  # the step's process kills itself at the failpoint
        elif until(process, ready):
            end = time.monotonic() + kill.delay
            until(process, lambda: time.monotonic() >= end)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: Airflow, the step, any child
        process.wait(timeout=60)
        assert group_gone(process.pid), f"a process of killed group {process.pid} is still alive"
        kill.killed = process.returncode == -signal.SIGKILL
        # a run that ended before its kill must have succeeded; one killed must not have failed first
        assert kill.killed or process.returncode == 0, f"{kill}: {self.logs[-1].read_text()[-3000:]}"
        kill.run_id = next((r for r in self.started() if r not in known), None)
        if kill.killed:
            kill.phase = phase_of(self.root, kill.run_id)
            kill.dag_run = dag_run_state(self.state, kill.run_id)
            assert kill.dag_run != "failed", f"{kill}: {self.logs[-1].read_text()[-3000:]}"
        return kill


def run_of(snapshot: Snapshot) -> str | None:
    return snapshot.summary.additional_properties.get("akko.run-id") if snapshot.summary else None


def phase_of(root: Path, run_id: str | None) -> str:
    """How far a killed run got, read back from the lakehouse."""
    from pyiceberg.expressions import EqualTo

    if run_id is None:
        return "startup"  # Airflow's start-up or the task's, before the step function began
    if snapshots_of_run(root, WHOLE_TABLE, run_id):
        return "after-publish"
    if not any(run_of(s) == run_id for s in table_of(root, WHOLE_TABLE).metadata.snapshots):
        return "before-write"
    history = table_of(root, "akko.check_results").scan(row_filter=EqualTo("run_id", run_id))
    return "between (checked)" if history.to_arrow().num_rows else "between (written)"


def dag_run_state(state: Path, run_id: str | None) -> str | None:
    if run_id is None:
        return None
    uri = f"{(state / 'airflow' / 'airflow.db').as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        row = conn.execute("SELECT state FROM dag_run WHERE run_id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def kill_ten_times(runs: WholeRuns, timing: Timing, rng: random.Random) -> list[Kill]:
    """Every attempt, killed or not: a run that finished before its kill is not a kill, so it is drawn again,
    each time within a shorter window (one clean run's timing is a guess on a loaded machine: a later run can end
    sooner after its publish), the last one at the anchor itself."""
    targets = list(TARGETS)
    rng.shuffle(targets)
    attempts: list[Kill] = []
    for target in targets:
        for shrink in (1.0, 0.5, 0.25, 0.0):
            attempts.append(runs.kill(Kill(target, shrink * timing.delay(target, rng))))
            print(attempts[-1], flush=True)
            if attempts[-1].killed:
                break
    return attempts


def cover_step_phases(runs: WholeRuns, kills: list[Kill]) -> list[Kill]:
    """A phase of the append no random kill hit (some last a fraction of a second) is hit for sure: by the
    failpoint after the checks, the one right after the publish, or a kill as the step starts."""
    extra: list[Kill] = []
    for phase, failpoint in STEP_PHASES.items():
        if not covered(kills, phase):
            extra.append(runs.kill(Kill(phase, 0.0, failpoint)))
            print(extra[-1], flush=True)
            assert covered(extra, phase), extra[-1]
    return extra


def covered(kills: list[Kill], phase: str) -> bool:
    if phase == "after-publish":  # before Airflow recorded the task's success: what a retry must not redo
        return any(k.phase == phase and k.dag_run == "running" for k in kills)
    return any(k.phase.startswith(phase) for k in kills)


def assert_exactly_once(root: Path, runs: list[str], published: set[str], log: str) -> None:
    """Every run that published has its 200,000 rows once, the others none; one data snapshot per run."""
    from pyiceberg.table.snapshots import ancestors_of

    data = table_of(root, WHOLE_TABLE).scan().to_arrow()
    per_run = data.group_by("run").aggregate([("id", "count"), ("id", "count_distinct")]).to_pylist()
    counts = {row["run"]: (row["id_count"], row["id_count_distinct"]) for row in per_run}
    assert counts == {run: (WHOLE_ROWS, WHOLE_ROWS) for run in published}, log
    assert data.num_rows == WHOLE_ROWS * len(published), log
    for run in runs:
        assert len(snapshots_of_run(root, WHOLE_TABLE, run)) == (run in published), f"{run}\n{log}"
    table = table_of(root, WHOLE_TABLE)
    data_snapshots = [s for s in ancestors_of(table.current_snapshot(), table.metadata) if run_of(s)]
    assert sorted(run_of(s) for s in data_snapshots) == sorted(published), log
    assert audit_branches(table) == [], log  # the good final run's publish removed the step's branch


def assert_unlocked(db: Path) -> None:
    """Not corrupt, and nobody holds a lock: a write transaction gets it at once (no busy wait)."""
    with closing(sqlite3.connect(db, timeout=0, isolation_level=None)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], db
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")


def assert_cli_sees(root: Path, rows: int) -> None:
    env = cli_env(root, root / ".akko")
    listed = akko("tables", env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert re.search(rf"{re.escape(WHOLE_TABLE)}\s*│\s*{rows}\s*│", listed.stdout), listed.stdout
    counted = akko("query", f"SELECT count(*) AS n FROM {WHOLE_TABLE}", env=env)
    assert counted.returncode == 0, counted.stdout + counted.stderr
    assert int(re.findall(r"│\s*(\d+)\s*│", counted.stdout)[-1]) == rows, counted.stdout


def test_whole_process_killed_at_random_moments_then_run_again(tmp_path: Path) -> None:
    """`akko run` (Airflow and the checked append of 200,000 rows, one process group) SIGKILLed ten times at
    random moments, then run to completion. CRASH_SEED=N replays a seed's delays."""
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"CRASH_SEED={seed}", flush=True)
    runs = WholeRuns(make_project(tmp_path / "project"))
    started = time.monotonic()
    try:
        first, timing = runs.clean()
        print(timing, flush=True)
        kills = kill_ten_times(runs, timing, random.Random(seed))
        kills += cover_step_phases(runs, kills)
        final, _ = runs.clean()
    finally:
        runs.stop()
    log = f"CRASH_SEED={seed}, {timing}, {time.monotonic() - started:.0f}s\n" + "\n".join(map(str, kills))
    print(log)
    assert sum(k.killed and k.failpoint is None for k in kills) == len(TARGETS), log
    ran = [first, final, *(k.run_id for k in kills if k.run_id)]
    published = {first, final} | {k.run_id for k in kills if k.run_id and k.phase in PUBLISHED}
    assert_exactly_once(runs.root, ran, published, log)
    assert_unlocked(runs.state / "catalog.db")
    assert_unlocked(runs.state / "airflow" / "airflow.db")
    assert dag_run_state(runs.state, final) == "success"
    assert_cli_sees(runs.root, WHOLE_ROWS * len(published))
