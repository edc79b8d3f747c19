"""One task of a pipeline run, as an Airflow worker runs it: the compiled DAG's operator `execute`d in a process
of its own with the run's identity (`python task_process.py SPEC TASK TRY_NUMBER RUN_ID...`). The crash-safety tests
kill this process (SIGKILL, through `AKKO_FAILPOINTS`) and start it again with the next try number, as
Airflow's retry would. Several run ids run one after the other (the concurrency test races two such loops)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

from akko_orchestrator.compiler.dag_builder import build_dag
from akko_orchestrator.compiler.entry import compile_plan, lakehouse_name
from akko_orchestrator.config.project import find_root


def main(spec: str, task_id: str, try_number: str, *run_ids: str) -> None:
    root = find_root(Path(spec).parent)
    dag = build_dag(compile_plan(Path(spec), root), spec, lakehouse_name(root))
    for run_id in run_ids:
        ti = types.SimpleNamespace(try_number=int(try_number), map_index=-1)
        context = {"ti": ti, "run_id": run_id, "dag_run": types.SimpleNamespace(conf={})}
        print(json.dumps(dag.get_task(task_id).execute(context), default=str), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
