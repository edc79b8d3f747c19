"""dbt runs in a child process (`python -m akko_orchestrator.dbt.invoke`), never in AKKO's own.

Every dbt invocation, at parse/validate/sync time (dbt/manifest.py: parse, ls, compile without a warehouse) and at
run time (dbt/compile.py: the `compile` task), goes through `run_child`:
- the child's environment is the team's (dbt/environment.py): dbt's env_var() cannot read another team's or
  AKKO's secrets, which a threaded Airflow worker could not hide by changing its own os.environ;
- dbt's global state (flags, logging, adapters, dbt-duckdb's one kept connection) starts fresh each time, and the
  AKKO plugin's gate (dbt/duckdb_plugin.py) is installed in the child only.
A request is a JSON document on stdin, the answer the last `{"akko": ...}` line of stdout. Starting the child and
importing dbt costs about a second per invocation (one per dbt step and run: the `compile` task).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from akko_orchestrator.dbt.environment import DbtEnvironment, confine
from akko_orchestrator.errors import AkkoError


class DbtChildError(AkkoError):
    """The dbt child process gave no answer (it crashed or timed out)."""


def run_child(
    task: str, request: dict[str, Any], environment: DbtEnvironment, timeout: float
) -> dict[str, Any]:
    """Run `task` ("graph" or "compile") with `request` in a dbt child process with `environment`."""
    message = json.dumps({"task": task, "kept": list(environment.kept), **request})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "akko_orchestrator.dbt.invoke"],
            input=message,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment.variables,
        )
    except subprocess.TimeoutExpired:
        raise DbtChildError(f"dbt did not finish within {timeout:.0f} s") from None
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith('{"akko":'):
            return json.loads(line)["akko"]
    detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    raise DbtChildError(f"dbt stopped without an answer (exit code {done.returncode}): {detail[0]}")


# ---------------------------------------------------------------------------------------------------------------
# In the child


def compile_nodes(request: dict[str, Any]) -> dict[str, Any]:
    """`dbt compile` with the request's arguments: each compiled node's type and SQL, or dbt's failure."""
    from dbt.cli.main import dbtRunner

    done = dbtRunner().invoke(request["args"])
    if not done.success:
        return {"failure": "; ".join(failures(done))}
    nodes = {
        result.node.unique_id: {"resource_type": _kind(result.node), "sql": result.node.compiled_code}
        for result in done.result.results
    }
    return {"nodes": nodes}


def _kind(node: Any) -> str:
    return node.resource_type.value if hasattr(node.resource_type, "value") else str(node.resource_type)


def failures(done: Any) -> list[str]:
    """dbt's messages for what failed, without a traceback: its exception, else each failed node with its file
    (`model name (models/name.sql): ...`, where dbt/manifest.py finds the file)."""
    if done.exception is not None:
        return [" ".join(str(done.exception).split())]
    found = []
    for result in getattr(done.result, "results", None) or []:
        if str(getattr(result, "status", "")).lower() == "error":
            node = result.node
            message = " ".join(str(result.message).split())
            found.append(f"{_kind(node)} {node.name} ({node.original_file_path}): {message}")
    return found or ["dbt reported a failure without a message"]


def main() -> None:
    request = json.loads(sys.stdin.read())
    confine(request["kept"])  # before dbt reads the environment (its invocation context copies it)
    try:
        if request["task"] == "graph":
            from akko_orchestrator.dbt.manifest import graph_task

            answer = graph_task(request)
        else:
            answer = compile_nodes(request)
    except Exception as exc:  # anything dbt raises: reported as the project's problem, never a traceback
        answer = {"failure": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write("\n" + json.dumps({"akko": answer}) + "\n")


if __name__ == "__main__":
    main()
