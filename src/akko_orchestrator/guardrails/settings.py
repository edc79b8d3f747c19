"""akko.yaml `guardrails:`: what the cluster policies refuse in DAG files, and how they read it at parse time.

Policies run in Airflow's processes (dag-processor, task processes), which know the project only by
AKKO_PROJECT_DIR: they read akko.yaml's `guardrails` and the team names, never a profile or a secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError

from akko_orchestrator.errors import ConfigError

PROJECT_FILE = "akko.yaml"  # as config/project.py (not imported: it pulls the profile models)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BashOperatorRule(_Model):
    allow: bool = Field(False, description="Allow BashOperator (and @task.bash) in every DAG.")
    allowed_dags: list[str] = Field(
        default_factory=list,
        description="DAG ids (shell patterns, e.g. `legacy_*`) allowed to use BashOperator when `allow` is false.",
    )


class GuardrailSettings(_Model):
    """What AKKO's cluster policies refuse in DAG files (AKKO's own DAGs pass every rule)."""

    enabled: bool = Field(True, description="false: no policy at all (not recommended).")
    bash_operator: BashOperatorRule = Field(default_factory=BashOperatorRule)
    xcom_max_bytes: ByteSize = Field(
        ByteSize(48_000),
        gt=0,
        description="Largest XCom value a task may push, serialized: bytes or `48KB`, `1MiB`...",
    )
    require_owner: bool = Field(True, description="Every task has an owner other than Airflow's `airflow`.")
    require_team: bool = Field(
        True, description="Every DAG has a `team:<name>` tag (one of akko.yaml's `teams` when declared)."
    )
    max_parse_seconds: float = Field(
        5.0, gt=0, description="Longest a hand-written DAG file may take to import in the dag-processor."
    )
    parse_io: Literal["refuse", "allow"] = Field(
        "refuse",
        description="Top-level file, network or process I/O while a hand-written DAG file is imported.",
    )
    iceberg_writes: Literal["akko_only", "allow"] = Field(
        "akko_only", description="Only AKKO's operators may write Iceberg tables (outlets and commits)."
    )


class ProjectRules:
    """The guardrails of one project and its declared team names, as the policies use them."""

    def __init__(self, root: Path, settings: GuardrailSettings, teams: tuple[str, ...]):
        self.root, self.settings, self.teams = root, settings, teams


_CACHE: dict[Path, tuple[tuple[int, int], ProjectRules]] = {}


def project_root(near: str | None = None) -> Path:
    """The project of this Airflow process: AKKO_PROJECT_DIR (AKKO's Airflow environment sets it), else the
    nearest akko.yaml above `near` (a DAG file: a DAG bundle checked out from the project's repository), else the
    current folder."""
    if os.environ.get("AKKO_PROJECT_DIR"):
        return Path(os.environ["AKKO_PROJECT_DIR"]).resolve()
    here = Path(os.path.realpath(near)).parent if near else Path.cwd().resolve()
    return next((f for f in (here, *here.parents) if (f / PROJECT_FILE).is_file()), Path.cwd().resolve())


def project_rules(root: Path | None = None, near: str | None = None) -> ProjectRules:
    """akko.yaml's guardrails, re-read only when the file changed (policies run once per DAG file)."""
    root = (root or project_root(near)).resolve()
    path = root / PROJECT_FILE
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        return ProjectRules(root, GuardrailSettings(), ())
    cached = _CACHE.get(root)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rules = _read(root, path)
    _CACHE[root] = (stamp, rules)
    return rules


def _read(root: Path, path: Path) -> ProjectRules:
    from akko_orchestrator.spec.yaml_source import SpecSource

    try:
        source = SpecSource.read(path, PROJECT_FILE)
    except Exception as exc:  # noqa: BLE001 - a SpecError (YAML syntax) or an unreadable file
        raise ConfigError(str(exc)) from None
    data = source.data if isinstance(source.data, dict) else {}
    teams = data.get("teams") if isinstance(data.get("teams"), dict) else {}
    return ProjectRules(root, parse_settings(data.get("guardrails"), source), tuple(sorted(map(str, teams))))


def parse_settings(raw: Any, source: Any = None) -> GuardrailSettings:
    """`raw` (akko.yaml's `guardrails` value) as settings; with `source` (a SpecSource of akko.yaml) each error is
    located at its line and column."""
    try:
        return GuardrailSettings.model_validate(raw or {})
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            loc = ("guardrails", *error["loc"])
            reason = error["msg"].removeprefix("Value error, ")
            if source is None:
                lines.append(f"{'.'.join(map(str, loc))}: {reason}")
            else:
                hint = _HINTS.get(str(error["loc"][0]) if error["loc"] else "")
                issue = source.issue(loc, reason, hint, key=error["type"] == "extra_forbidden")
                lines.append(issue.format())
        raise ConfigError("invalid guardrails:\n  " + "\n  ".join(lines)) from None


_HINTS = {
    "xcom_max_bytes": "a size such as 48KB or 1MiB",
    "parse_io": "refuse or allow",
    "iceberg_writes": "akko_only or allow",
    "max_parse_seconds": "a number of seconds above 0",
}
