"""The project the step-code security tests run on (tests/security/test_step_code*.py): the demo project as
shipped, with teams `demo` and `banking`, demo allowed to read banking (never to write it), and the probe
functions of step_code/ beside its pipelines."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.plan.model import PlannedStep
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.spec.models import Output
from tests.conftest import copy_project

HERE = Path(__file__).parent / "step_code"
BANKING = pa.table({"id": pa.array([1, 2], pa.int64())})


def make_project(folder: Path) -> Iterator[Project]:
    """The demo project as shipped (teams demo and banking) in `folder`, demo allowed to read banking (never to
    write it), banking.accounts, demo.ledger and ops.secrets in its lakehouse; AKKO_* variables pointing at it
    until the generator is closed (a module fixture yields from it)."""
    root = copy_project(folder / "project", teams=True)
    for extra in HERE.iterdir():
        if extra.suffix in (".py", ".yaml"):
            shutil.copy(extra, root / "pipelines" / extra.name)
    config = yaml.safe_load((root / "akko.yaml").read_text())
    config["teams"]["demo"]["reads"] = ["banking"]
    (root / "akko.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    saved = {k: os.environ.get(k) for k in ("AKKO_PROJECT_DIR", "AKKO_STATE_DIR", "AKKO_PROFILE")}
    os.environ.update(AKKO_PROJECT_DIR=str(root), AKKO_STATE_DIR=str(root / ".akko"))
    os.environ.pop("AKKO_PROFILE", None)
    loaded = load_project(root)
    catalog = open_catalog(loaded)
    write_table(catalog, Output(table="banking.accounts"), BANKING)
    write_table(catalog, Output(table="demo.ledger"), pa.table({"id": pa.array([7], pa.int64())}))
    write_table(catalog, Output(table="ops.secrets"), pa.table({"id": pa.array([9], pa.int64())}))
    yield loaded
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def step_ctx(project: Project, team: str | None = "demo", step: str = "probe", **kw: Any) -> StepContext:
    return StepContext(project, pipeline_id="step_code", step_id=step, team=team, **kw)


def planned(step: Any, reads: list[str] | None = None) -> PlannedStep:
    output = getattr(step, "output", None)
    return PlannedStep(
        step=step, reads=tuple(reads or []), writes=output.table if output else None, upstream=()
    )


def state(project: Project, table: str) -> tuple[int | None, list[int], dict[str, str]]:
    loaded = open_catalog(project).load_table(table)
    snapshot = loaded.current_snapshot()
    ids = sorted(loaded.scan().to_arrow().column("id").to_pylist())
    return (snapshot.snapshot_id if snapshot else None), ids, dict(loaded.properties)


def catalog_params(project: Project) -> dict[str, str]:
    return {"catalog_uri": project.catalog_uri, "warehouse": project.warehouse}
