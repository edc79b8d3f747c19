"""Shared fixtures. Tiers: unit (default, fast), e2e (real Airflow + embedded lakehouse), integration (services)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def copy_project(target: Path) -> Path:
    """A throwaway copy of the repo's demo project (akko.yaml, pipelines/, data/)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "akko.yaml", target / "akko.yaml")
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
