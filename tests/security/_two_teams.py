"""A real project with the repo's two teams (`demo`, `banking`) on its embedded lakehouse (pyiceberg SQL catalog on
SQLite, local warehouse), holding a demo table and a banking table whose rows no demo step may ever see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.engines.duckdb.sandbox import warehouse_folder
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.spec.models import Output
from tests.conftest import copy_project

SECRET = "SECRET-IBAN-0042"  # in banking.accounts only: no demo step, check or query may return it


@dataclass(frozen=True)
class TwoTeams:
    project: Project
    warehouse: Path

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def banking_data(self) -> Path:
        return self.warehouse / "banking" / "accounts" / "data"

    @property
    def banking_file(self) -> Path:
        return sorted(self.banking_data.glob("*.parquet"))[0]

    def context(self, team: str | None, step: str = "probe") -> StepContext:
        """What a step of `team` runs with (None: a process without a team, such as `akko query`)."""
        return StepContext(self.project, pipeline_id=f"{team or 'cli'}_probe", step_id=step, team=team)

    def probe(self, template: str) -> str:
        """`template` with {data} (banking's data folder), {file} (one of its files) and {stem} (that file
        without `.parquet`, which DuckDB reads back when a name is split there: `"{stem}".parquet`)."""
        file = str(self.banking_file)
        return template.format(data=self.banking_data, file=file, stem=file.removesuffix(".parquet"))


def two_teams(root: Path) -> TwoTeams:
    copy_project(root, teams=True)
    project = load_project(root, "local")
    catalog = open_catalog(project)
    accounts = pa.table({"iban": [SECRET, "SECRET-IBAN-0043"], "balance": pa.array([100, 200], pa.int64())})
    write_table(catalog, Output(table="banking.accounts"), accounts, {})
    sales = pa.table(
        {"sale_id": pa.array([1, 2, 3], pa.int64()), "amount": pa.array([10, 20, 30], pa.int64())}
    )
    write_table(catalog, Output(table="demo.sales"), sales, {})
    warehouse = warehouse_folder(project.warehouse)
    assert warehouse is not None
    return TwoTeams(project, Path(warehouse))


def spec(root: Path, name: str, steps: str, team: str = "demo") -> Path:
    """A spec of its own folder (validated alone), `steps` as YAML text."""
    folder = root / "probes" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"pipeline: {name}\nowner: probe\nteam: {team}\nsteps:\n{steps}", encoding="utf-8")
    return path


def located(path: Path, fragment: str, occurrence: int = 0) -> str:
    """`file:line:column` of the `occurrence`-th `fragment` in `path` (as akko validate reports it)."""
    text = path.read_text(encoding="utf-8")
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(fragment, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{line}:{column}"
