"""Find the project, read akko.yaml, apply AKKO_* overrides and pick the profile."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from akko_orchestrator.config.models import Profile, ProjectConfig
from akko_orchestrator.errors import ConfigError

PROJECT_FILE = "akko.yaml"
STACK_ENV_FILE = Path("stack") / "stack.env"  # under the state folder; written by `akko stack up`
_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Project:
    """A project folder and its configuration, with the selected profile resolved."""

    root: Path
    config: ProjectConfig
    profile_name: str

    @cached_property
    def profile(self) -> Profile:
        return self.config.profiles[self.profile_name]

    @property
    def state_dir(self) -> Path:
        return Path(os.environ.get("AKKO_STATE_DIR") or self.root / self.config.state_dir).resolve()

    @property
    def pipelines_dir(self) -> Path:
        return (self.root / self.config.pipelines).resolve()

    @property
    def dags_dir(self) -> Path:
        return self.state_dir / "dags"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def python_paths(self) -> list[Path]:
        return [(self.root / p).resolve() for p in self.config.python_path]

    @property
    def catalog_uri(self) -> str:
        return self.profile.catalog.uri or f"sqlite:///{self.state_dir / 'catalog.db'}"  # type: ignore[union-attr]

    @property
    def warehouse(self) -> str:
        configured = getattr(self.profile.catalog, "warehouse", None)
        return configured or (self.state_dir / "warehouse").as_uri()

    @property
    def object_store_uri(self) -> str:
        configured = self.profile.object_store.uri
        if configured is None:
            return str(self.state_dir / "object-store")
        if "://" in configured:
            return configured
        return str((self.root / configured).resolve())


def find_root(start: Path | None = None) -> Path:
    """The nearest folder holding akko.yaml from `start` (CLI --project, a spec's folder) upward; without `start`,
    AKKO_PROJECT_DIR or the current directory. Falls back to the starting folder itself."""
    if start is None and os.environ.get("AKKO_PROJECT_DIR"):
        return Path(os.environ["AKKO_PROJECT_DIR"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return here


def load_project(start: Path | None = None, profile: str | None = None) -> Project:
    """Read the project; the profile is `profile` (CLI) > AKKO_PROFILE > akko.yaml `profile`."""
    root = find_root(start)
    raw = _read_yaml(root / PROJECT_FILE)
    if raw.get("guardrails") is not None:
        from akko_orchestrator.guardrails.settings import project_rules

        project_rules(root)  # its errors located at their line in akko.yaml
    name = profile or os.environ.get("AKKO_PROFILE") or raw.get("profile") or "local"
    profiles = raw.get("profiles") or {"local": {}}
    if name not in profiles:
        raise ConfigError(
            f"no profile '{name}' in {root / PROJECT_FILE} (profiles: {', '.join(sorted(profiles))})"
        )
    if isinstance(profiles[name], dict) and (
        profiles[name].get("engine") == "cluster"
        or (profiles[name].get("airflow") or {}).get("auth") == "keycloak"  # the stack's Keycloak
    ):
        _load_stack_env(root, raw)
    try:
        expanded = _expand_env(profiles[name], f"profiles.{name}")
    except ConfigError as exc:
        if isinstance(profiles[name], dict) and profiles[name].get("engine") == "cluster":
            raise ConfigError(
                f"{exc} (on this machine, `akko stack up` starts the cluster engines)"
            ) from None
        raise
    selected = _apply_env_overrides(expanded)
    raw = {**raw, "profile": name, "profiles": {**profiles, name: selected}}
    if isinstance(raw.get("metrics"), dict):  # the StatsD host differs per machine: ${VAR:-default}
        raw["metrics"] = _expand_env(raw["metrics"], "metrics")
    # Only the selected profile must resolve its ${VARS}; the others are validated once selected.
    raw["profiles"] = {k: (v if k == name else {}) for k, v in raw["profiles"].items()}
    from akko_orchestrator.config.alerts import project_alert_rules

    project_alert_rules(raw.get("alerts"), root / PROJECT_FILE)  # a broken rule: located in akko.yaml
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, root / PROJECT_FILE)) from None
    from akko_orchestrator.config.dag_folders import check_teams

    check_teams(config.dags, list(config.teams), root / PROJECT_FILE)  # `dags[i].team`, located in akko.yaml
    return Project(root=root, config=config, profile_name=name)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the `export KEY='value'` lines of an env file written by `akko stack up`."""
    result: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("export "):
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        result[key] = shlex.split(value)[0] if value else ""
    return result


def _load_stack_env(root: Path, raw: dict[str, Any]) -> None:
    """A cluster profile on this machine reaches the services `akko stack up` started: their endpoints, secrets
    and Airflow connections (`AIRFLOW_CONN_*`, `AKKO_AIRFLOW_DB`) become defaults of this process's environment,
    inherited by the Airflow processes it starts. Variables already set win."""
    state = Path(os.environ.get("AKKO_STATE_DIR") or root / str(raw.get("state_dir") or ".akko"))
    path = state / STACK_ENV_FILE
    if not path.is_file():
        return
    for key, value in read_env_file(path).items():
        os.environ.setdefault(key, value)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    return data


def _expand_env(value: Any, where: str) -> Any:
    """Replace ${VAR} and ${VAR:-default} in strings; a missing variable is an error naming it."""
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, where) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV_REF.sub(replace, value)


def _apply_env_overrides(profile: dict[str, Any]) -> dict[str, Any]:
    """AKKO__CATALOG__URI=... sets profile.catalog.uri (double underscore separates levels)."""
    result = dict(profile)
    for key, value in sorted(os.environ.items()):
        if not key.startswith("AKKO__"):
            continue
        path = [part.lower() for part in key[len("AKKO__") :].split("__")]
        node = result
        for part in path[:-1]:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[path[-1]] = value
    return result


def _format_validation(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid configuration"]
    for error in exc.errors(include_url=False):
        if error["loc"][-1:] == (
            "bool",
        ):  # `section: false` is allowed too: the section's own error says more
            continue
        parts = tuple(p for p in error["loc"] if p not in ("sql", "rest") and not _is_union_tag(p))
        loc = ".".join(str(p) for p in parts)
        where = _position(path, parts, key=error["type"] == "extra_forbidden")
        lines.append(f"  {where}{loc}: {error['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def _is_union_tag(part: Any) -> bool:
    """pydantic names the member of a union it tried (`ExpireSnapshots`, `bool`): not a key of the file."""
    return isinstance(part, str) and (part[:1].isupper() or part in ("bool", "str", "int"))


def _position(path: Path, loc: tuple[Any, ...], key: bool) -> str:
    """`akko.yaml:LINE:COLUMN: ` of the value at `loc` (of its key, for an unknown key), when the file has it."""
    from akko_orchestrator.spec.yaml_source import SpecSource

    try:
        source = SpecSource(path=path, text=path.read_text(encoding="utf-8"))
        line, column = source.locate(loc, key=key)
    except (OSError, ValueError, yaml.YAMLError):
        return ""
    return f"{path.name}:{line}:{column}: " if line is not None else ""
