"""The pytest plugin of `akko.testing` (entry point `pytest11: akko`): the `akko_lakehouse` fixture, a runner
bound to the test's own temporary folder, so a failing test leaves its lakehouse to look at (pytest keeps the last
runs' `tmp_path`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest


class AkkoLakehouse:
    """`run(pipeline, inputs, ...)` as `akko.testing.run_pipeline`, every run on this test's lakehouse folder (a
    second run sees the tables of the first, as a second Airflow run would)."""

    def __init__(self, folder: Path, project: str | Path | None = None):
        self.folder = folder
        self.project = project

    def run(self, pipeline: str | Path, inputs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        from akko_orchestrator.testing.runner import run_pipeline

        options.setdefault("project", self.project)
        return run_pipeline(pipeline, inputs, lakehouse=self.folder, **options)


@pytest.fixture
def akko_lakehouse(tmp_path: Path) -> AkkoLakehouse:
    """A temporary embedded lakehouse for the project found from the current folder (or AKKO_PROJECT_DIR); set
    `akko_lakehouse.project` to test another one."""
    return AkkoLakehouse(tmp_path / "lakehouse")
