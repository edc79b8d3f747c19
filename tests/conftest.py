"""Shared fixtures. Tiers: unit (default, fast), e2e (real Airflow + embedded lakehouse), integration (services)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Airflow reads its configuration when first imported: point it at a throwaway home before any test imports it,
# so no test touches ~/airflow or the repo's .akko/.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="akko-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}?timeout=30"
for _name in ("AKKO_PROFILE", "AKKO_PROJECT_DIR", "AKKO_STATE_DIR"):
    os.environ.pop(_name, None)


# What the session's cluster stack (tests/fixtures/stack_services.py) puts in os.environ while it runs: its tests
# find the stack's project through them; any other test must not (see `_no_stack_environment`).
STACK_ENVIRON: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def _no_stack_environment_in_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """The same for a module's own fixtures (set up before any function-scoped one), in modules not on the stack."""
    if str(Path(request.path).relative_to(REPO)) in STACK_MODULES:
        yield
        return
    with pytest.MonkeyPatch.context() as env:
        for key, value in STACK_ENVIRON.items():
            if os.environ.get(key) == value:
                env.delenv(key)
        yield


@pytest.fixture(autouse=True)
def _no_stack_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist may run a module on the stack's worker after the stack's modules, with the session's stack still up:
    a test not on the stack gets none of the stack's AKKO_STATE_DIR, AKKO_PROJECT_DIR and AKKO_PROFILE."""
    if "cluster_stack" in request.fixturenames:
        return
    for key, value in STACK_ENVIRON.items():
        if os.environ.get(key) == value:
            monkeypatch.delenv(key)


def copy_project(target: Path, teams: bool = False) -> Path:
    """A throwaway copy of the repo's demo project (akko.yaml, pipelines/, data/). Without `teams`, akko.yaml's
    `teams:` block is left out (no tenancy), so tests may add specs of teams of their own; with it, as shipped."""
    target.mkdir(parents=True, exist_ok=True)
    text = (REPO / "akko.yaml").read_text(encoding="utf-8")
    if not teams:
        text = re.sub(r"(?m)^teams:\n(?:(?:[ \t]+.*|[ \t]*)\n)*", "", text)
    (target / "akko.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(REPO / "pipelines", target / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data", target / "data")
    return target


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo project in a tmp dir, selected through AKKO_PROJECT_DIR with its own state dir."""
    root = copy_project(tmp_path / "project")
    monkeypatch.setenv("AKKO_PROJECT_DIR", str(root))
    monkeypatch.setenv("AKKO_STATE_DIR", str(root / ".akko"))
    monkeypatch.delenv("AKKO_PROFILE", raising=False)
    return root


# Modules whose tests run on the session's cluster stack (Trino, Spark Connect, PostgreSQL): one xdist worker gets
# them all, so the stack starts once and two stacks never compete for the machine.
STACK_MODULES = frozenset(
    f"tests/integration/{path.name}"
    for path in (REPO / "tests" / "integration").glob("test_*.py")
    if "cluster_stack" in path.read_text(encoding="utf-8")
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadfile` (scripts/test.sh runs two workers): each module stays on one worker (its module fixtures
    start once), and the cluster stack's modules share one. Written here because xdist's `loadgroup` markers have
    no effect under pytest 9 (xdist 3.8 rewrites a test id attribute pytest 9 no longer reads)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "cluster-stack" if module in STACK_MODULES else module

    return ModuleScheduling(config, log)
