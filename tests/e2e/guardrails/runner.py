"""The guardrails as Airflow applies them, in a fresh interpreter configured like every Airflow process of AKKO
(`python runner.py OUT.json`, project from AKKO_PROJECT_DIR): AKKO's environment is applied before Airflow is
imported, so Airflow loads the local settings AKKO writes and with them the cluster policies.

Writes: each hand-written DAG file's import error through Airflow's DagBag (over AKKO's DAG folder, where the
`dags/` folder is linked, shims beside), `check_dag_file`'s violations per file, and a `dag.test()` run of
`run_time.py` (task states and errors, and the snapshot of the Iceberg table it appends to, written here by AKKO's
writer outside any task, before and after), and a run of one of AKKO's own pipelines under the same guardrails.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path


def main(out: str) -> None:
    from akko_orchestrator.compiler.shims import sync_shims
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow import environment

    project = load_project()
    environment.apply(project)
    sync_shims(project.pipelines_dir, project.dags_dir, project.root, dbt_graphs=False)

    from airflow.dag_processing.dagbag import DagBag

    from akko_orchestrator.guardrails.policies import check_dag_file, hand_written_files

    bag = DagBag(dag_folder=str(project.dags_dir), safe_mode=False)
    result: dict[str, object] = {
        "dags": sorted(bag.dags),
        "import_errors": {str(Path(k).name): v for k, v in bag.import_errors.items()},
        "checks": {
            path.name: [asdict(v) for v in check_dag_file(path)]
            for path in hand_written_files(project.root, project.config.dags)
        },
    }
    result["run"] = run_time(project, bag)
    result["akko_run"] = akko_run(project)
    Path(out).write_text(json.dumps(result, indent=2, default=str))


def run_time(project: object, bag: object) -> dict[str, object]:
    import pyarrow as pa

    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.lakehouse.writer import write_table
    from akko_orchestrator.local_airflow import environment
    from akko_orchestrator.local_airflow.inprocess import _listening, _ProgressListener, _report
    from akko_orchestrator.spec.models import Output

    environment.ensure_database()
    catalog = open_catalog(project)
    write_table(catalog, Output(table="demo.guarded"), pa.table({"id": pa.array([1, 2], pa.int64())}))
    before = catalog.load_table("demo.guarded").metadata.current_snapshot_id
    listener = _ProgressListener(None)  # records each failed task's error
    with _listening(listener):
        dag_run = bag.dags["guard_run_time"].test()  # type: ignore[attr-defined]
    report = _report(dag_run, 0.0, listener)
    after = catalog.load_table("demo.guarded").metadata.current_snapshot_id
    tasks = {t.task_id: {"state": t.state, "error": t.error, "result": t.result} for t in report.tasks}
    return {"tasks": tasks, "snapshot_before": before, "snapshot_after": after}


def akko_run(project: object) -> dict[str, object]:
    """One of AKKO's own pipelines under the same guardrails: its commits are in AKKO's writer scope, its file
    list (a fan-out's XCom) is AKKO's to push."""
    from akko_orchestrator.local_airflow.inprocess import run_pipeline

    report = run_pipeline(project, "orders_fanout_ingest")  # type: ignore[arg-type]
    results = {f"{t.task_id}[{t.map_index}]": t.result for t in report.tasks}
    return {"state": report.state, "errors": [t.error for t in report.tasks if t.error], "results": results}


if __name__ == "__main__":
    main(sys.argv[1])
