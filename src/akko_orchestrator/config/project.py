"""Find the project, read akko.yaml, apply AKKO_* overrides and pick the profile."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

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
    raw = read_project_file(root / PROJECT_FILE)
    try:
        return _load(root, raw, profile)
    except (TypeError, AttributeError, KeyError) as exc:  # a value of another shape read before validation
        _raise_invalid(root / PROJECT_FILE, raw, exc)


def _load(root: Path, raw: dict[str, Any], profile: str | None) -> Project:
    if raw.get("guardrails") is not None:
        from akko_orchestrator.guardrails.settings import project_rules

        project_rules(root)  # its errors located at their line in akko.yaml
    name = profile or os.environ.get("AKKO_PROFILE") or raw.get("profile") or "local"
    profiles = raw.get("profiles") or {"local": {}}
    _check_shapes(root / PROJECT_FILE, raw, profiles, name)
    if name not in profiles:
        raise ConfigError(
            f"no profile '{name}' in {root / PROJECT_FILE} (profiles: {', '.join(sorted(map(str, profiles)))})"
        )
    body = profiles[name] or {}
    if body.get("engine") == "cluster" or (body.get("airflow") or {}).get("auth") == "keycloak":
        _load_stack_env(root, raw)  # the stack's endpoints and Keycloak
    try:
        expanded = _expand_env(body, f"profiles.{name}")
    except ConfigError as exc:
        if body.get("engine") == "cluster":
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


def _raise_invalid(path: Path, raw: dict[str, Any], exc: Exception) -> NoReturn:
    """A value of the wrong shape met before validation: the models' own located errors, else the shape."""
    try:
        ProjectConfig.model_validate(raw)
    except ValidationError as invalid:
        raise ConfigError(_format_validation(invalid, path)) from None
    raise ConfigError(f"{path}: invalid configuration: a value has the wrong shape ({exc})") from None


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


def read_project_file(path: Path) -> dict[str, Any]:
    """akko.yaml as data ({} without the file), within spec/yaml_safety.py's budgets; a `ConfigError` at
    `akko.yaml:line:column` if it is not UTF-8 YAML text holding a mapping. Every reader of akko.yaml reads it
    through here."""
    if not path.is_file():
        return {}
    from akko_orchestrator.spec.yaml_safety import YamlFileError, load_yaml, read_text
    from akko_orchestrator.spec.yaml_source import yaml_issue

    text = ""
    try:
        text = read_text(path)
        data = load_yaml(text) or {}
    except YamlFileError as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.column}: {exc.reason} ({exc.hint})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_issue(str(path), exc, text).format()) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1:1: expected a mapping of settings (`lakehouse:`, `profiles:`...)")
    return data


def _check_shapes(path: Path, raw: dict[str, Any], profiles: Any, name: Any) -> None:
    """What must be a mapping or a name before the profile is picked from it (the rest: the models)."""
    wrong = None
    if not isinstance(profiles, dict):
        wrong = (("profiles",), "expected a mapping of profile names to profiles")
    elif not isinstance(name, str):
        wrong = (("profile",), "expected a profile name")
    elif name in profiles and not isinstance(profiles[name], dict | None):  # `local:` alone is {}
        wrong = (("profiles", name), "expected a mapping (`engine:`, `catalog:`...)")
    elif raw.get("metrics") is not None and not isinstance(raw["metrics"], dict):
        wrong = (("metrics",), "expected a mapping")
    if wrong is not None:
        raise ConfigError(
            f"{path}: invalid configuration\n  {_position(path, wrong[0], False)}"
            f"{'.'.join(map(str, wrong[0]))}: {wrong[1]}"
        )


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
    from akko_orchestrator.spec.yaml_safety import read_text
    from akko_orchestrator.spec.yaml_source import SpecSource

    try:
        source = SpecSource(path=path, text=read_text(path))
        line, column = source.locate(loc, key=key)
    except (OSError, ValueError, yaml.YAMLError):
        return ""
    return f"{path.name}:{line}:{column}: " if line is not None else ""
