"""Integration-tier fixtures shared across modules.

`cluster_stack` starts `akko stack` (PostgreSQL, Trino, Spark Connect) once for the whole session, for the tests
that run pipelines and queries on the cluster engines; `test_stack_trino.py` keeps its own stack because it also
tests `akko stack down`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.fixtures.stack_services import RunningStack, running_stack  # noqa: E402


@pytest.fixture(scope="session")
def cluster_stack() -> Iterator[RunningStack]:
    with running_stack(session_wide=True) as running:
        yield running
