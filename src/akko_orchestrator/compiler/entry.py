"""What a generated shim calls: spec file -> validated spec -> plan -> DAG, fast and without side effects.

A broken spec raises `SpecError`, which Airflow records as this shim's import error; the message starts with
`spec.yaml:line:column: field: reason`. Other pipelines are other shims, so they still load.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from akko_orchestrator import __version__
from akko_orchestrator.config.project import PROJECT_FILE, find_root
from akko_orchestrator.plan.builder import Plan, build_plan
from akko_orchestrator.spec.loader import load_spec

if TYPE_CHECKING:
    from airflow.sdk import DAG

CACHE_DIR = "__akko_cache__"


def load_dag(shim_file: str, spec_relpath: str) -> DAG:
    """Called from a shim: `spec_relpath` is relative to the shim's folder."""
    from akko_orchestrator.compiler.dag_builder import build_dag

    spec = (Path(shim_file).parent / spec_relpath).resolve()
    root = find_root(spec.parent)
    plan = compile_plan(
        spec, root, cache_file=Path(shim_file).parent / CACHE_DIR / f"{Path(shim_file).stem}.json"
    )
    return build_dag(plan, str(spec), lakehouse_name(root))


def compile_plan(spec: Path, root: Path, cache_file: Path | None = None) -> Plan:
    """Load and plan a spec; SQL table references are memoised in `cache_file` (parsing SQL is the slow part)."""
    display = os.path.relpath(spec, root) if spec.is_relative_to(root) else str(spec)
    pipeline, source = load_spec(spec, display)
    cache = _read_cache(cache_file)
    before = dict(cache)
    plan = build_plan(pipeline, source, cache)
    if cache_file is not None and cache != before:
        _write_cache(cache_file, cache)
    return plan


def _read_cache(path: Path | None) -> dict[str, list[str]]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("sql_reads", {}) if data.get("version") == __version__ else {}


def _write_cache(path: Path, cache: dict[str, list[str]]) -> None:
    """Best effort: a read-only DAG folder just means SQL is parsed on every load."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": __version__, "sql_reads": cache}, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass


@lru_cache(maxsize=16)
def lakehouse_name(root: Path) -> str:
    """Only akko.yaml's `lakehouse` is needed at parse time; profiles (and their secrets) are not touched."""
    path = root / PROJECT_FILE
    if not path.is_file():
        return "akko"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return str(data.get("lakehouse", "akko"))
