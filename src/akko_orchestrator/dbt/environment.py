"""The environment dbt runs with: the variables its team may read with env_var(), and what AKKO passes itself.

dbt's `env_var()` reads the whole environment of its process, and AKKO's holds every team's secrets (Airflow's
`AIRFLOW_CONN_*` connections, AKKO's catalog and object-store credentials). So dbt never runs in AKKO's process: it
runs in a child process (dbt/invoke.py) whose environment holds only
- the variables matching the team's `env_vars` in akko.yaml (never `AIRFLOW_*`, `AKKO_*` or `DBT_*`);
- the secrets of the profile AKKO generated (`DBT_ENV_SECRET_*`: dbt refuses them outside profiles.yml);
- dbt settings AKKO chooses, and what starting Python needs (PATH, PYTHONPATH, HOME, locale), which the child
  removes before dbt starts (`confine`): a model asking for anything else gets dbt's "Env var required but not
  provided", which AKKO completes with the setting to change (`explain`).
Without `teams:` (or a team without `env_vars`) dbt gets no variable of the environment at all.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.config.models import RESERVED_ENV_PREFIXES

if TYPE_CHECKING:
    from akko_orchestrator.config.models import TeamSettings

SETTINGS = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}  # dbt flags AKKO sets for every invocation
# What the child needs to start (find Python, its packages, a locale), removed before dbt runs
STARTUP = (
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SYSTEMROOT",
)
_MISSING = re.compile(r"Env var required but not provided: '([^']+)'")


@dataclass(frozen=True)
class DbtEnvironment:
    """What a dbt child process gets: `variables` to start with, of which it keeps `kept` while dbt runs."""

    team: str | None = None
    patterns: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    kept: tuple[str, ...] = ()

    def explain(self, message: str) -> str:
        """dbt's message, and for a variable it could not read, the akko.yaml setting that decides it."""
        found = _MISSING.search(message)
        if found is None:
            return message
        name = found.group(1)
        where = f"teams.{self.team}.env_vars" if self.team else "a team's `env_vars` (akko.yaml `teams`)"
        listed = ", ".join(self.patterns) or "none"
        return (
            f"{message} (dbt runs with only the environment variables of {where} in akko.yaml (now: {listed}); "
            f"add {name} there if the team may use it, or give env_var() a default)"
        )


def dbt_environment(
    teams: Mapping[str, TeamSettings], team: str | None, secrets: Mapping[str, str] | None = None
) -> DbtEnvironment:
    """The environment of a dbt child process of `team` (the variables of this process its team may read)."""
    patterns = tuple(teams[team].env_vars) if team in teams else ()
    allowed = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(RESERVED_ENV_PREFIXES) and any(fnmatch.fnmatchcase(name, p) for p in patterns)
    }
    kept = {**allowed, **(secrets or {}), **SETTINGS}
    startup = {name: os.environ[name] for name in STARTUP if name in os.environ and name not in kept}
    return DbtEnvironment(team, patterns, {**startup, **kept}, tuple(sorted(kept)))


def project_teams(folder: Path) -> Mapping[str, TeamSettings]:
    """The `teams` of the akko.yaml above a dbt project (nothing else of it: no profile, no secret)."""
    from akko_orchestrator.config.project import PROJECT_FILE, read_project_file
    from akko_orchestrator.config.tenancy import Tenancy
    from akko_orchestrator.errors import AkkoError

    for parent in [folder, *folder.parents]:
        if (parent / PROJECT_FILE).is_file():
            try:
                raw = read_project_file(parent / PROJECT_FILE)
                return Tenancy.from_raw(raw.get("teams")).teams
            except AkkoError:
                return {}  # akko.yaml's own problem, reported by every command
    return {}


def namespace_team(teams: Mapping[str, TeamSettings], namespace: str) -> str | None:
    """For callers that know a dbt step's namespace but not its pipeline's team (`akko validate`'s graph
    provider): the one team writing it (a spec whose team may not write it is refused by validate anyway); two
    teams writing it, or none: no team, so no variable."""
    writers = [name for name, team in teams.items() if namespace in team.namespaces]
    if not writers and namespace in teams:  # a step without `namespace` writes its team's name
        writers = [namespace]
    return writers[0] if len(writers) == 1 else None


def env_var_location(folder: Path, sources: list[Path], message: str) -> tuple[str, int] | None:
    """dbt's parse error for a variable it could not read names no file: the first file of the project (relative
    to `folder`) and line asking for it with env_var(), searched by hand for that reason."""
    found = _MISSING.search(message)
    if found is None:
        return None
    call = re.compile(r"env_var\(\s*['\"]" + re.escape(found.group(1)) + r"['\"]")
    files = [folder / "dbt_project.yml"]
    for base in sources:
        files += (
            sorted(p for p in base.rglob("*") if p.suffix in (".sql", ".yml", ".yaml"))
            if base.is_dir()
            else []
        )
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(lines, start=1):
            if call.search(line):
                return path.relative_to(folder).as_posix(), number
    return None


def confine(kept: list[str]) -> None:
    """In the child, before dbt starts: every variable not in `kept` leaves the process' environment."""
    for name in list(os.environ):
        if name not in kept:
            del os.environ[name]
