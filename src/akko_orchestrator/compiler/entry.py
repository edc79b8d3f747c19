"""What a generated shim calls: spec file -> validated spec -> plan -> DAG, fast and without side effects.

A broken spec raises `SpecError`, which Airflow records as this shim's import error; the message starts with
`spec.yaml:line:column: field: reason`. Other pipelines are other shims, so they still load.

Parse time matters (Airflow re-parses every shim, each in a fresh process), so each shim has a small JSON cache in
`__akko_cache__/` next to it, keyed by content hashes, holding what is slow to recompute and cheap to check:
- `sql_reads`: the tables each SQL text reads (parsing SQL with sqlglot is the slowest part of planning);
- `spec`: the spec file's YAML document as JSON (JSON loads ~50x faster than YAML); it is still validated with
  the spec models on every load, and any mismatch or error falls back to reading the YAML;
- `project`: akko.yaml's `lakehouse` name, default `profile`, profiles' engine kinds, `teams` (tenancy) and
  `alerts` (connection ids and addresses).

The active profile's name (AKKO_PROFILE, else akko.yaml's `profile`) picks the steps of this DAG: a step limited to
other `profiles` is left out. Nothing else of a profile (endpoints, secrets) is read at parse time. akko.yaml's
`teams` (namespaces and connection ids, no secret) confine the pipeline to its team: a refusal is the import error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from akko_orchestrator import __version__
from akko_orchestrator.config.alerts import normalized
from akko_orchestrator.config.project import PROJECT_FILE, find_root
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.plan.builder import build_plan
from akko_orchestrator.plan.model import Plan

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from akko_orchestrator.spec.models import Pipeline
    from akko_orchestrator.spec.yaml_source import SpecSource

CACHE_DIR = "__akko_cache__"
# plan/ files whose rules decide which SQL is valid: cached SQL results hold only while they are unchanged.
_DATE = "__akko_date__"  # a YAML date (e.g. `start_date: 2024-01-01`) in the cached spec document


def load_dag(shim_file: str, spec_relpath: str) -> DAG | None:
    """Called from a shim: `spec_relpath` is relative to the shim's folder. None (no DAG, not an error) for a
    pipeline whose `profiles` leave out the active profile. Whatever goes wrong is an `AkkoError` whose message
    starts with the spec file (and line, column and field where known): Airflow's import error."""
    shim = Path(shim_file)
    spec = (shim.parent / spec_relpath).resolve()
    root = find_root(spec.parent)
    try:
        return _load_dag(shim, spec, root)
    except AkkoError:
        raise
    except Exception as exc:  # an error AKKO did not expect: still this pipeline's import error, located
        from akko_orchestrator.errors import SpecError, SpecIssue

        display = os.path.relpath(spec, root) if spec.is_relative_to(root) else str(spec)
        what = f"{type(exc).__name__}: {exc}"
        what = what if len(what) <= 300 else what[:300] + "..."
        reason = f"AKKO could not build this pipeline's DAG ({what})"
        hint = f"`akko --debug validate {display}` shows where"
        raise SpecError([SpecIssue(display, None, None, "", reason, hint)]) from exc


def _load_dag(shim: Path, spec: Path, root: Path) -> DAG | None:
    from akko_orchestrator.compiler.dag_builder import build_dag

    plan, project = _compile(spec, root, shim.parent / CACHE_DIR / f"{shim.stem}.json")
    if not plan.steps:
        return None
    from akko_orchestrator.config.alerts import project_alert_rules

    alerts = project_alert_rules(
        project["alerts"], root / PROJECT_FILE
    )  # a broken rule: this DAG's import error
    return build_dag(plan, str(spec), project["lakehouse"], alerts)


def compile_plan(spec: Path, root: Path, cache_file: Path | None = None, profile: str | None = None) -> Plan:
    """Load and plan a spec for `profile` (default: the active one); slow intermediate results are memoised in
    `cache_file` (see the module doc)."""
    return _compile(spec, root, cache_file, profile)[0]


def _compile(
    spec: Path, root: Path, cache_file: Path | None, profile: str | None = None
) -> tuple[Plan, dict[str, Any]]:
    display = os.path.relpath(spec, root) if spec.is_relative_to(root) else str(spec)
    stored = _read_cache(cache_file)
    sql_reads = dict(stored.get("sql_reads", {}))
    pipeline, source, spec_entry = _load_spec(spec, display, stored.get("spec"))
    project_entry = _project_entry(root, stored.get("project"))
    profile = profile or os.environ.get("AKKO_PROFILE") or project_entry["profile"]
    engine = project_entry["engines"].get(profile, "embedded")
    from akko_orchestrator.config.tenancy import Tenancy

    tenancy = Tenancy.from_raw(project_entry["teams"])
    plan = build_plan(pipeline, source, sql_reads, profile, engine, tenancy=tenancy)
    if cache_file is not None:
        updated = {
            "version": __version__,
            "rules": _rules_fingerprint(),
            "sql_reads": sql_reads,
            "spec": spec_entry,
            "project": project_entry,
        }
        updated = {key: value for key, value in updated.items() if value is not None}
        if updated != stored:
            _write_cache(cache_file, updated)
    return plan, project_entry


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@lru_cache(maxsize=1)
def _yaml_reader_fingerprint() -> str:
    """Changes whenever the code turning YAML text into data does, so a cached document is never stale."""
    from akko_orchestrator.spec import yaml_safety, yaml_source

    try:
        code = b"".join(Path(str(m.__file__)).read_bytes() for m in (yaml_source, yaml_safety))
    except (OSError, TypeError):
        return "unknown"
    return hashlib.sha256(code).hexdigest()[:16]


@lru_cache(maxsize=1)
def _rules_fingerprint() -> str:
    """Changes whenever a rule the plan applies does (every module of plan/ and sql/, the Trino function list), so
    a spec judged clean by older rules is judged again: a list of rule files would go stale as rules move."""
    from akko_orchestrator import plan, sql

    digest = hashlib.sha256()
    for package in (plan, sql):
        folder = Path(str(package.__file__)).parent
        for path in sorted([*folder.glob("*.py"), *folder.glob("*.txt")]):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _spec_digest(text: str) -> str:
    return _digest(f"{_yaml_reader_fingerprint()}\n{text}")


def _load_spec(spec: Path, display: str, entry: Any) -> tuple[Pipeline, SpecSource, dict[str, Any] | None]:
    """`load_spec`, skipping the YAML parse when the cache holds this exact text's document."""
    if isinstance(entry, dict) and isinstance(entry.get("data"), dict):
        from pydantic import ValidationError

        from akko_orchestrator.spec.models import Pipeline
        from akko_orchestrator.spec.yaml_source import SpecSource

        try:
            text = spec.read_text(encoding="utf-8")
        except (OSError, ValueError):
            text = None
        if text is not None and entry.get("sha") == _spec_digest(text):
            data = entry["data"]
            try:
                pipeline = Pipeline.model_validate(data)
            except ValidationError:
                pass  # load_spec below reports it with file, line and column
            else:
                return pipeline, SpecSource(path=spec, text=text, data=data, display=display), entry
    from akko_orchestrator.spec.loader import load_spec  # only here: the cached path never needs it

    pipeline, source = load_spec(spec, display)
    return pipeline, source, _spec_entry(source)


def _spec_entry(source: SpecSource) -> dict[str, Any] | None:
    """The document as JSON, only if it comes back from JSON exactly as YAML gave it (else: no caching)."""
    try:
        data = json.loads(json.dumps(source.data, default=_encode), object_hook=_decode)
    except (TypeError, ValueError):
        return None
    if data != source.data or not isinstance(data, dict):
        return None
    return {"sha": _spec_digest(source.text), "data": data}


def _encode(value: Any) -> Any:
    if type(value) is dt.date:
        return {_DATE: value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not cached")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _DATE in obj and isinstance(obj[_DATE], str):
        return dt.date.fromisoformat(obj[_DATE])
    return obj


def _project_entry(root: Path, entry: Any) -> dict[str, Any]:
    """akko.yaml's `lakehouse` and default `profile`, read from the cache while akko.yaml is unchanged."""
    text = _project_text(root / PROJECT_FILE)
    sha = _digest(text)
    if (
        isinstance(entry, dict)
        and entry.get("sha") == sha
        and isinstance(entry.get("lakehouse"), str)
        and isinstance(entry.get("profile"), str)
        and isinstance(entry.get("engines"), dict)
        and isinstance(entry.get("teams"), dict)
        and "alerts" in entry
    ):
        return entry
    return {"sha": sha, **_project_names(text, root / PROJECT_FILE)}


def _project_text(path: Path) -> str:
    """akko.yaml's text ('' without one); a file that is not UTF-8 text is every DAG's import error, at its
    first bad byte (its teams could not be known)."""
    from akko_orchestrator.errors import ConfigError
    from akko_orchestrator.spec.yaml_safety import YamlFileError, read_text

    try:
        return read_text(path)
    except FileNotFoundError:
        return ""
    except YamlFileError as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.column}: {exc.reason} ({exc.hint})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from None


def _read_cache(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(), object_hook=_decode)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != __version__:
        return {}
    if data.get("rules") != _rules_fingerprint():
        return {}
    if not isinstance(data.get("sql_reads", {}), dict):
        return {}
    return data


def _write_cache(path: Path, cache: dict[str, Any]) -> None:
    """Best effort: a read-only DAG folder just means the slow path runs on every load."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, default=_encode))  # never sort: the document keeps its key order
        tmp.replace(path)
    except (OSError, TypeError, ValueError):
        pass


@lru_cache(maxsize=16)
def lakehouse_name(root: Path) -> str:
    """Only akko.yaml's `lakehouse` is needed at parse time; profiles (and their secrets) are not touched."""
    path = root / PROJECT_FILE
    if not path.is_file():
        return "akko"
    return _project_names(_project_text(path), path)["lakehouse"]


def _project_names(akko_yaml: str, path: Path) -> dict[str, Any]:
    """Lakehouse name, default profile, each profile's engine kind, the teams and the alert rules (connection ids
    and addresses): plain names, never a secret. A broken akko.yaml is every DAG's import error, located: with
    defaults instead, its teams' rules would silently not apply."""
    from akko_orchestrator.errors import ConfigError
    from akko_orchestrator.spec.yaml_safety import load_yaml
    from akko_orchestrator.spec.yaml_source import yaml_issue

    try:
        data = load_yaml(akko_yaml) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_issue(str(path), exc, akko_yaml).format()) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1:1: expected a mapping of settings (`lakehouse:`, `profiles:`...)")
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    engines = {
        str(name): str(body.get("engine", "embedded")) if isinstance(body, dict) else "embedded"
        for name, body in profiles.items()
    }
    return {
        "lakehouse": str(data.get("lakehouse", "akko")),
        "profile": str(data.get("profile") or "local"),
        "engines": engines,
        "teams": data.get("teams") or {},  # not a mapping: Tenancy.from_raw refuses it (the import error)
        "alerts": normalized(data.get("alerts")) or [],  # checked when the DAG is built (config/alerts.py)
    }
