"""akko.yaml `dags:`: the folders of hand-written Airflow DAG files, each a plain folder (`dags`) or a folder and
the team that owns it (`{path: dags, team: demo}`). A team matters in Airflow's multi-team mode only, where DAGs
are parsed from one DAG bundle per team (local_airflow/dag_folders.py links each folder into its team's bundle).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class DagFolder(BaseModel):
    """One folder of hand-written DAG files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="The folder, relative to the project folder.")
    team: str | None = Field(
        None,
        description="The team (one of `teams`) whose DAG bundle parses the folder in Airflow's multi-team mode.",
    )


def _plain_folder(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


DagFolders = list[Annotated[DagFolder, BeforeValidator(_plain_folder)]]


def default_folders() -> list[DagFolder]:
    return [DagFolder(path="dags")]


def check_teams(folders: list[DagFolder], teams: list[str], akko_yaml: Path) -> None:
    """Every folder's `team` is one of akko.yaml's `teams`; a ConfigError located at `dags[i].team` otherwise."""
    from akko_orchestrator.errors import ConfigError
    from akko_orchestrator.spec.yaml_source import SpecSource

    unknown = [(i, f.team) for i, f in enumerate(folders) if f.team is not None and f.team not in teams]
    if not unknown:
        return
    source = SpecSource.read(akko_yaml, akko_yaml.name)
    issues = []
    for index, team in unknown:
        close = difflib.get_close_matches(str(team), teams, n=1)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif teams:
            hint = f"use one of {', '.join(sorted(teams))}, or declare '{team}' in `teams`"
        else:
            hint = "declare it in akko.yaml's `teams`, or leave `team` out"
        reason = f"team '{team}' is not declared in akko.yaml's `teams`"
        issues.append(source.issue(("dags", index, "team"), reason, hint))
    raise ConfigError("\n".join(issue.format() for issue in issues))
