"""`akko ci`'s DAG import, in its own process: `python -m akko_orchestrator.ci.dag_worker REQUEST RESULT`.

AKKO's Airflow environment is applied before Airflow is imported, so Airflow loads the project's Airflow home,
configuration and `airflow_local_settings.py` (AKKO's cluster policies, or the user's own) exactly as AKKO's
dag-processor does. Each file is then parsed by the dag-processor's own function (`_parse_file`: import with
Airflow's timeout, cluster policies, DAG validation, serialization) in a process forked for it, as the
dag-processor forks one child per file, several at a time."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

BUNDLE_NAME = "dags-folder"  # the dag-processor's default bundle, which AKKO's Airflow uses


def main(request_file: str, result_file: str) -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow import environment

    request = json.loads(Path(request_file).read_text())
    environment.apply(load_project(Path(request["root"]), request["profile"]))
    from airflow.utils.file import list_py_file_paths  # Airflow's discovery: .airflowignore, safe mode

    files = [(shim, request["shim_folder"], BUNDLE_NAME) for shim in request["shims"]]
    for folder, bundle, name in request["folders"]:  # a hand-written folder, through its link in `bundle`
        files += [(path, bundle, name) for path in sorted(list_py_file_paths(folder))]
    _preload()

    workers = max(1, min(len(files), int(request.get("workers") or os.cpu_count() or 1)))
    results: list[dict[str, Any]] = []
    if files:
        with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
            results = pool.starmap(parse_file, files, chunksize=1)
    Path(result_file).write_text(json.dumps(results))


def _preload() -> None:
    """Import once, before forking, what every child needs (as the dag-processor's children inherit their
    parent's imports): the parser and what it imports on its first file, AKKO's compiler, operators and checks
    that every shim imports (measured: a child that imports them itself takes ~2 s longer per file)."""
    import sqlglot.dialects.trino  # noqa: F401 - checks' SQL
    import structlog  # noqa: F401
    from airflow.dag_processing import processor  # noqa: F401
    from airflow.models import dagbag, dagwarning, serialized_dag  # noqa: F401

    import akko_orchestrator.compiler.dag_builder  # noqa: F401
    import akko_orchestrator.compiler.entry  # noqa: F401
    import akko_orchestrator.operators.dbt  # noqa: F401
    import akko_orchestrator.operators.steps  # noqa: F401
    import akko_orchestrator.quality.checks  # noqa: F401


def parse_file(path: str, bundle: str, bundle_name: str = BUNDLE_NAME) -> dict[str, Any]:
    """One file through the dag-processor's parse: its DAG ids, import errors, warnings and parse time."""
    import structlog
    from airflow.dag_processing.processor import DagFileParseRequest, _parse_file

    request = DagFileParseRequest(file=path, bundle_path=Path(bundle), bundle_name=bundle_name)
    started = time.monotonic()
    try:
        parsed = _parse_file(request, structlog.get_logger("akko.ci"))
    except Exception as exc:  # noqa: BLE001 - whatever a file does to the parser is this file's problem
        return _result(
            path, bundle, time.monotonic() - started, [], {path: f"{type(exc).__name__}: {exc}"}, []
        )
    seconds = time.monotonic() - started
    dags = [d.data["dag"]["dag_id"] for d in parsed.serialized_dags] if parsed else []
    errors = dict(parsed.import_errors or {}) if parsed else {}
    warnings = [str(w) for w in (parsed.warnings or [])] if parsed else []
    return _result(path, bundle, seconds, dags, errors, warnings)


def _result(
    path: str, bundle: str, seconds: float, dags: list[str], errors: dict[str, str], warnings: list[str]
) -> dict[str, Any]:
    return {
        "file": path,
        "bundle": bundle,
        "seconds": round(seconds, 3),
        "dag_ids": dags,
        "errors": errors,
        "warnings": warnings,
    }


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
