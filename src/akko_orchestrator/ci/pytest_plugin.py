"""A pytest plugin `akko ci` loads into the project's test run (`-p akko_orchestrator.ci.pytest_plugin`): every
failed test or collection as JSON (file, line, message) in the file named by AKKO_CI_PYTEST_REPORT, located at
the failing line of the test file rather than deep in a library. pytest's own reports only carry these as text."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_found: list[dict[str, Any]] = []
_counts = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report: Any) -> None:
    if report.passed and report.when == "call":
        _counts["passed"] += 1
    elif report.skipped and report.when in ("setup", "call"):
        _counts["skipped"] += 1
    elif report.failed:
        _counts["failed"] += 1
        _found.append(_located(report, report.location[0], report.location[1], report.location[2]))


def pytest_collectreport(report: Any) -> None:
    if report.failed:
        _found.append(_located(report, report.fspath, None, "collection"))


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    target = os.environ.get("AKKO_CI_PYTEST_REPORT")
    if target:
        Path(target).write_text(json.dumps({"failures": _found, "counts": _counts, "exit": int(exitstatus)}))


def _located(report: Any, file: str, def_line: int | None, name: str) -> dict[str, Any]:
    """The deepest traceback entry in the test's own file, else its crash location, else the test's `def`."""
    line = None if def_line is None else def_line + 1
    longrepr = report.longrepr
    entries = getattr(getattr(longrepr, "reprtraceback", None), "reprentries", None) or []
    for entry in reversed(entries):
        location = getattr(entry, "reprfileloc", None)
        if location is not None and Path(location.path).name == Path(file).name:
            line = location.lineno
            break
    crash = getattr(longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(longrepr).strip().splitlines()[-1:] or ["failed"]
    if isinstance(message, list):
        message = message[0] if message else "failed"
    return {"file": file, "line": line or 1, "test": name, "message": message.strip().splitlines()[0]}
