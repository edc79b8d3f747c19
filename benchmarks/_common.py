"""Helpers shared by the benchmarks: isolated Airflow environments, statistics, table printing."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"  # git-ignored
PYCACHE = WORK / "pycache"

# Variables that would point an AKKO or Airflow run at the developer's own state: never inherited.
_INHERITED = (
    "AKKO_PROJECT_DIR",
    "AKKO_STATE_DIR",
    "AKKO_PROFILE",
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
)


def isolated_env(airflow_home: Path, dags_folder: Path | None = None, **extra: str) -> dict[str, str]:
    """A copy of os.environ for a benchmark process: its own AIRFLOW_HOME, quiet logs, no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED and not k.startswith("AIRFLOW__")}
    # Installed software runs from bytecode; this machine sets PYTHONDONTWRITEBYTECODE=1, which would make every
    # fresh process compile Airflow from source. Keep bytecode in a private, git-ignored folder instead (the
    # .venv is never written to).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "SCARF_NO_ANALYTICS": "true",
            "PYTHONWARNINGS": "ignore",
        }
    )
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    env.update(extra)
    return env


def apply_env(env: dict[str, str]) -> None:
    """Make this process's environment exactly `env` (call before Airflow is imported)."""
    if "airflow" in sys.modules:
        print("warning: Airflow was imported before the benchmark set its environment", file=sys.stderr)
    for key in list(os.environ):
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
    use_bytecode_cache()


def use_bytecode_cache() -> None:
    """This process reads and writes bytecode under PYCACHE (see `isolated_env`)."""
    PYCACHE.mkdir(parents=True, exist_ok=True)
    sys.pycache_prefix = str(PYCACHE)
    sys.dont_write_bytecode = False


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    """'min-max' of a sample, for judging the noise of a median."""
    return f"{min(values):.2f}-{max(values):.2f}" if values else "n/a"


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
