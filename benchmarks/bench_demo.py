"""`akko demo` wall time against the same work as a hand-written Airflow 3 DAG (pyiceberg + DuckDB directly).

Both run the same way: a fresh process per run that loads its DAG through DagBag and runs it in-process with
`dag.test()` (`akko demo` via its console script; the plain DAG, `plain_demo_dag.py`, via `plain_demo_run.py`),
each with its own temporary state folder (Airflow home and metadata DB, Iceberg catalog and warehouse, object
store; AKKO_STATE_DIR for akko, never the repo's .akko/). The first run of each creates its Airflow DB and tables
and is reported on its own; then runs alternate (which one goes first alternates too) and medians are compared.
Both end states are checked: demo.sales must hold the same 12 rows in both catalogs.

Run: `uv run python benchmarks/bench_demo.py [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, isolated_env, median, spread, table  # noqa: E402

GOAL = 1.10  # akko within 10% of the plain DAG
HERE = Path(__file__).resolve().parent


def _akko_command() -> list[str]:
    script = Path(sys.executable).parent / "akko"
    if script.is_file():
        return [str(script), "demo"]
    return [
        sys.executable,
        "-c",
        "import sys; from akko_orchestrator.cli.main import main; sys.argv[0] = 'akko'; main()",
        "demo",
    ]


def _plain_env(state: Path) -> dict[str, str]:
    """The Airflow configuration `akko` gives its own runs (local_airflow/environment.py), for the plain DAG."""
    home = state / "airflow"
    return isolated_env(
        home,
        state / "dags",
        PLAIN_DEMO_STATE=str(state),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PLUGINS_FOLDER=str(home / "plugins"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH=str(home / "bundles"),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "simple_auth_manager_passwords.json"),
    )


class Runner:
    def __init__(self, tmp: Path):
        self.akko_state = tmp / "akko-state"
        self.plain_state = tmp / "plain-state"
        (self.plain_state / "dags").mkdir(parents=True)
        self.plain_dag = self.plain_state / "dags" / "plain_demo.py"
        shutil.copy(HERE / "plain_demo_dag.py", self.plain_dag)
        self.commands = {
            "akko": (
                _akko_command(),
                isolated_env(self.akko_state / "airflow", AKKO_STATE_DIR=str(self.akko_state)),
                REPO,
            ),
            "plain": (
                [sys.executable, str(HERE / "plain_demo_run.py"), str(self.plain_dag)],
                _plain_env(self.plain_state),
                tmp,
            ),
        }

    def run(self, name: str) -> float:
        command, env, cwd = self.commands[name]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"{name} run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return seconds


def check_same_tables(akko_state: Path, plain_state: Path) -> dict[str, Any]:
    """Both catalogs end with the same demo.sales rows (and partitioning) and 12 raw rows."""
    from pyiceberg.catalog.sql import SqlCatalog

    def read(state: Path, name: str) -> tuple[list[dict[str, Any]], str, int]:
        catalog = SqlCatalog(
            name, uri=f"sqlite:///{state / 'catalog.db'}", warehouse=(state / "warehouse").as_uri()
        )
        sales = catalog.load_table("demo.sales")
        rows = sorted(sales.scan().to_arrow().to_pylist(), key=lambda r: r["sale_id"])
        spec = ", ".join(f"{f.name}:{f.transform}" for f in sales.spec().fields)
        raw = catalog.load_table("demo.raw_sales").scan().to_arrow().num_rows
        return rows, spec, raw

    akko_rows, akko_spec, akko_raw = read(
        akko_state, "akko"
    )  # pyiceberg's catalog name: akko.yaml `lakehouse`
    plain_rows, plain_spec, plain_raw = read(plain_state, "demo")
    if akko_rows != plain_rows or len(akko_rows) != 12 or akko_raw != plain_raw != 12:
        raise RuntimeError("akko and the plain DAG did not produce the same demo.sales / demo.raw_sales")
    if akko_spec != plain_spec:
        raise RuntimeError(f"partitioning differs: akko {akko_spec}, plain {plain_spec}")
    return {"rows": len(akko_rows), "partitioning": akko_spec}


def measure(repeats: int = 3, keep: bool = False) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="akko-bench-demo-"))
    try:
        runner = Runner(tmp)
        first = {"akko": runner.run("akko"), "plain": runner.run("plain")}  # creates DBs and tables
        times: dict[str, list[float]] = {"akko": [], "plain": []}
        for rep in range(repeats):
            for name in ("akko", "plain") if rep % 2 == 0 else ("plain", "akko"):
                times[name].append(runner.run(name))
        checked = check_same_tables(runner.akko_state, runner.plain_state)
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    akko_s, plain_s = median(times["akko"]), median(times["plain"])
    pairs = [a / p for a, p in zip(times["akko"], times["plain"], strict=True)]
    result = {
        "repeats": repeats,
        "akko_s": round(akko_s, 2),
        "plain_s": round(plain_s, 2),
        "akko_s_range": spread(times["akko"]),
        "plain_s_range": spread(times["plain"]),
        "ratio": round(akko_s / plain_s, 3),
        "ratio_of_pairs_median": round(median(pairs), 3),
        "goal_ratio_max": GOAL,
        "akko_first_run_s": round(first["akko"], 2),
        "plain_first_run_s": round(first["plain"], 2),
        "tables_checked": checked,
    }
    result["meets_goal"] = result["ratio"] <= GOAL
    return result


def report(result: dict[str, Any]) -> str:
    rows = [
        ["akko demo", result["akko_s"], result["akko_s_range"], result["akko_first_run_s"]],
        ["plain Airflow DAG", result["plain_s"], result["plain_s_range"], result["plain_first_run_s"]],
    ]
    verdict = "meets" if result["meets_goal"] else "MISSES"
    return (
        f"Demo wall time, fresh process per run, in-process dag.test(), {result['repeats']} alternating runs "
        "after a first run each (seconds)\n"
        + table(["", "median s", "range", "first run (creates DB)"], rows)
        + f"\nratio akko/plain: {result['ratio']} (median of per-repeat pairs {result['ratio_of_pairs_median']})"
        f"; goal <= {result['goal_ratio_max']}: {verdict}\n"
        f"end state checked: demo.sales {result['tables_checked']['rows']} identical rows in both, "
        f"partitioned by {result['tables_checked']['partitioning']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the state folders")
    args = parser.parse_args()
    print(report(measure(args.repeats, args.keep)))


if __name__ == "__main__":
    main()
