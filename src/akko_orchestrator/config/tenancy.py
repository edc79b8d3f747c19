"""Tenants: a pipeline's `team` and what akko.yaml's `teams:` lets its steps touch.

One rule, used in three places:
- `akko validate` and DAG parse time (plan/tenancy.py): a located issue at the offending field or SQL character;
- run time (runtime/context.py): a `TeamGuard` refuses, before anything is read or written, a table outside the
  team's namespaces (every catalog access of a step, the SQL it runs, every table write) and a connection outside
  the team's `connections`.

A team may write the Iceberg namespaces in its `namespaces`, read those plus `reads`, and use the Airflow connections
whose id matches one of its `connections` (shell-style patterns, `fnmatch`), and read and write the object-store
folders in its `files` (default `raw/<team>`; `_akko/` is AKKO's own, whatever the teams). Without `teams:` there is no isolation
(every pipeline may touch everything, as before). The system namespace `akko` (`akko.check_results`) is AKKO's own:
AKKO's writer of check history uses the step's unguarded catalog; a step's own code gets no access to it unless its
team lists it.

Connections: Airflow 3.3's multi-team mode (`[core] multi_team`) also scopes connections, at its execution API: a
connection stored in the metadata DB with a `team_name` (REST API `POST /api/v2/connections` with `team_name`; the
`airflow connections add` CLI has no team option in 3.3.2) or an environment variable `AIRFLOW_CONN__<TEAM>___<ID>`
is served only to tasks of DAGs whose bundle belongs to that team. But connections without a team (and a worker's
own `AIRFLOW_CONN_<ID>` variables, which the Task SDK reads before asking the API) are served to every team, and
`akko run` / `akko demo` run tasks in-process without the execution API. So AKKO's check here is the enforcement;
Airflow's team scoping is a second layer where it is deployed. Only parse-free data is read here: no secret.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from akko_orchestrator.config.models import ProjectConfig, TeamSettings
from akko_orchestrator.errors import AkkoError, ConfigError

SYSTEM_NAMESPACE = "akko"  # AKKO's own tables (akko.check_results), written by AKKO's code only
# AKKO's own object-store folder (staging, run state): never a step's source or target
RESERVED_PREFIX = "_akko"

Refusal = tuple[str, str]  # (reason, how to fix)


class TenancyError(AkkoError):
    """A step touched a table or connection outside its team's."""


def namespace_of(table: str) -> str:
    return table.split(".", 1)[0] if "." in table else ""


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(set(names))) or "none"


@dataclass(frozen=True)
class Tenancy:
    """akko.yaml's `teams` (empty: no isolation)."""

    teams: Mapping[str, TeamSettings] = field(default_factory=dict)

    @classmethod
    def of(cls, config: ProjectConfig) -> Tenancy:
        return cls(dict(config.teams))

    @classmethod
    def from_raw(cls, raw: Any) -> Tenancy:
        """Parse time: akko.yaml's `teams` mapping as read from YAML (nothing else of akko.yaml, no secret)."""
        if not raw:
            return cls()
        try:
            return cls(ProjectConfig.model_validate({"teams": raw}).teams)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"akko.yaml: {where}: {first['msg']}") from None

    @property
    def enabled(self) -> bool:
        return bool(self.teams)

    def team_refusal(self, team: str) -> Refusal | None:
        if not self.enabled or team in self.teams:
            return None
        import difflib

        close = difflib.get_close_matches(team, list(self.teams), n=1)
        hint = (
            f"did you mean '{close[0]}'? (or declare '{team}' in akko.yaml)"
            if close
            else f"use one of {_listed(self.teams)}, or declare '{team}' in akko.yaml"
        )
        return f"team '{team}' is not declared in akko.yaml's `teams`", hint

    def write_refusal(self, team: str, table: str) -> Refusal | None:
        settings = self.teams.get(team)
        if not self.enabled or settings is None:
            return self.team_refusal(team)
        namespace = namespace_of(table)
        if namespace in settings.namespaces:
            return None
        reason = (
            f"table {table} is in namespace '{namespace}', which team '{team}' may not write "
            f"(its namespaces: {_listed(settings.namespaces)})"
        )
        return (
            reason,
            f"write a namespace of the team, or add '{namespace}' to teams.{team}.namespaces in akko.yaml",
        )

    def read_refusal(self, team: str, table: str) -> Refusal | None:
        settings = self.teams.get(team)
        if not self.enabled or settings is None:
            return self.team_refusal(team)
        namespace = namespace_of(table)
        if namespace in settings.namespaces or namespace in settings.reads:
            return None
        reason = (
            f"table {table} is in namespace '{namespace}', which team '{team}' may not read "
            f"(it reads: {_listed([*settings.namespaces, *settings.reads])})"
        )
        return reason, f"add '{namespace}' to teams.{team}.reads in akko.yaml, or read a table of the team"

    def connection_refusal(self, team: str, conn_id: str) -> Refusal | None:
        settings = self.teams.get(team)
        if not self.enabled or settings is None:
            return self.team_refusal(team)
        if any(fnmatch.fnmatchcase(conn_id, pattern) for pattern in settings.connections):
            return None
        reason = (
            f"Airflow connection '{conn_id}' is not among the connections of team '{team}' "
            f"({_listed(settings.connections)})"
        )
        return reason, f"use a connection of the team, or add it to teams.{team}.connections in akko.yaml"

    def readable_namespaces(self, team: str) -> list[str]:
        """The namespaces `team` may read (its own and its `reads`), sorted; none for an unknown team."""
        settings = self.teams.get(team)
        return sorted({*settings.namespaces, *settings.reads}) if settings is not None else []

    def file_folders(self, team: str) -> list[str]:
        """The object-store folders (key prefixes) of `team`: its `files`, default `raw/<team>`."""
        settings = self.teams.get(team)
        if settings is None:
            return []
        return list(settings.files) if settings.files is not None else [f"raw/{team}"]

    def file_refusal(self, team: str | None, key: str) -> Refusal | None:
        """An object-store key (relative to the store's root, `..` already folded): AKKO's own `_akko/` is
        nobody's; with teams, only keys inside the team's folders are the team's."""
        key = key.strip("/")
        if key == RESERVED_PREFIX or key.startswith(RESERVED_PREFIX + "/"):
            return (
                f"object-store key {key} is AKKO's own (`{RESERVED_PREFIX}/`: staging and run state)",
                "read and write files under a folder of your own, e.g. raw/<team>/",
            )
        if not self.enabled or team is None:
            return None
        if team not in self.teams:
            return self.team_refusal(team)
        folders = self.file_folders(team)
        if any(key == folder or key.startswith(folder + "/") for folder in folders):
            return None
        return (
            f"object-store key {key} is outside the folders of team '{team}' ({_listed(folders)})",
            f"use a key under one of them, or add its folder to teams.{team}.files in akko.yaml",
        )

    def guard(self, team: str | None, step: str) -> TeamGuard | None:
        """The run-time guard of a step of `team` (None: no `teams:`, or no team given: nothing is checked)."""
        if not self.enabled or team is None:
            return None
        return TeamGuard(self, team, step)


@dataclass(frozen=True)
class TeamGuard:
    """Run time: raises `TenancyError` naming the step before a refused read, write or connection."""

    tenancy: Tenancy
    team: str
    step: str

    def _raise(self, refusal: Refusal | None) -> None:
        if refusal is not None:
            reason, hint = refusal
            raise TenancyError(f"step '{self.step}' of team '{self.team}': {reason}; refused ({hint})")

    def check_read(self, table: str) -> None:
        self._raise(self.tenancy.read_refusal(self.team, table))

    def check_write(self, table: str) -> None:
        self._raise(self.tenancy.write_refusal(self.team, table))

    def check_namespace_write(self, namespace: str) -> None:
        self._raise(self.tenancy.write_refusal(self.team, f"{namespace}._"))

    def check_connection(self, conn_id: str) -> None:
        self._raise(self.tenancy.connection_refusal(self.team, conn_id))

    def readable_namespaces(self) -> list[str]:
        """What the step may read, as namespaces (the embedded engine's DuckDB reads only their folders)."""
        return self.tenancy.readable_namespaces(self.team)

    def check_file(self, key: str) -> None:
        """An object-store key the step is about to read or write (relative to the store's root)."""
        self._raise(self.tenancy.file_refusal(self.team, key))
