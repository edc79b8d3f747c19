"""Parse cost: AKKO specs + shims against dag-factory 1.1.0 YAML, both loaded with Airflow's DagBag.

Generates (in a temporary folder) N pipelines of 10 steps each -- a file ingest, seven SQL transforms reading the
previous step's table(s), one SQL verification step and a Python step -- as AKKO specs with their shims, and the
same N DAGs (same task ids, same dependencies, same inlets/outlets) as dag-factory YAML loaded by dag-factory's
documented `load_yaml_dags(globals_dict=globals(), ...)` from one .py file in its DAG folder (plus, for context,
as hand-written .py DAG files).

Headline: the folders are loaded with `DagBag` in this one process, after a warm-up, interleaved, and the median
milliseconds per DAG are reported with their ratio. Reported separately: the cold first load (empty shim cache),
the first load in the process, optionally the compiler at another git ref (`--baseline`), and a dag-processor-like
measure (one forked child per file, as Airflow 3 parses). See benchmarks/README.md.

Run: `uv run python benchmarks/bench_parse.py [--pipelines 100] [--repeats 7] [--baseline REF] [--profile]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, apply_env, isolated_env, median, spread, table  # noqa: E402

GOAL = 1 / 3  # akko ms/DAG at most a third of dag-factory's
STEPS_PER_PIPELINE = 10


# --------------------------------------------------------------------------------------------------------------
# The pipeline shape shared by both generators: (step id, kind, tables read, table written, upstream step ids)
# --------------------------------------------------------------------------------------------------------------


def pipeline_steps(ns: str) -> list[dict[str, Any]]:
    """Ten steps of a realistic orders pipeline; SQL reads the previous step's table(s)."""
    t = {
        name: f"{ns}.{name}"
        for name in (
            "orders_raw",
            "orders_clean",
            "orders_dedup",
            "orders_daily",
            "customer_stats",
            "customer_daily",
            "top_customers",
            "region_mart",
        )
    }
    return [
        {
            "id": "load_orders",
            "kind": "ingest",
            "files": f"./data/{ns}/orders.csv",
            "writes": t["orders_raw"],
            "reads": [],
            "after": [],
            "description": "Load the day's order export (one CSV file).",
        },
        {
            "id": "clean_orders",
            "kind": "sql",
            "sql": f"""SELECT order_id, customer_id, lower(trim(region)) AS region,
  CAST(order_ts AS timestamp) AS order_ts, CAST(amount AS double) AS amount
FROM {t["orders_raw"]}
WHERE amount IS NOT NULL AND amount > 0""",
            "writes": t["orders_clean"],
            "reads": [t["orders_raw"]],
            "after": ["load_orders"],
            "description": "Types and obviously bad rows.",
        },
        {
            "id": "dedup_orders",
            "kind": "sql",
            "sql": f"""WITH ranked AS (
  SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY order_ts DESC) AS rn
  FROM {t["orders_clean"]}
)
SELECT order_id, customer_id, region, order_ts, amount FROM ranked WHERE rn = 1""",
            "writes": t["orders_dedup"],
            "reads": [t["orders_clean"]],
            "after": ["clean_orders"],
            "description": "Keep the latest version of each order.",
        },
        {
            "id": "orders_daily",
            "kind": "sql",
            "sql": f"""SELECT CAST(order_ts AS date) AS order_date, region, count(*) AS orders,
  round(sum(amount), 2) AS amount
FROM {t["orders_dedup"]}
GROUP BY 1, 2""",
            "writes": t["orders_daily"],
            "reads": [t["orders_dedup"]],
            "after": ["dedup_orders"],
            "description": "Orders and amount per day and region.",
        },
        {
            "id": "customer_stats",
            "kind": "sql",
            "sql": f"""SELECT customer_id, count(*) AS orders, round(sum(amount), 2) AS lifetime_amount,
  min(order_ts) AS first_order, max(order_ts) AS last_order
FROM {t["orders_dedup"]}
GROUP BY customer_id""",
            "writes": t["customer_stats"],
            "reads": [t["orders_dedup"]],
            "after": ["dedup_orders"],
            "description": "Per-customer aggregates.",
        },
        {
            "id": "customer_daily",
            "kind": "sql",
            "sql": f"""SELECT d.order_date, d.region, d.orders, d.amount, count(DISTINCT s.customer_id) AS customers
FROM {t["orders_daily"]} AS d
JOIN {t["customer_stats"]} AS s ON CAST(s.last_order AS date) = d.order_date
GROUP BY d.order_date, d.region, d.orders, d.amount""",
            "writes": t["customer_daily"],
            "reads": [t["customer_stats"], t["orders_daily"]],
            "after": ["customer_stats", "orders_daily"],
            "description": "Daily figures with active customers.",
        },
        {
            "id": "top_customers",
            "kind": "sql",
            "sql": f"""SELECT order_date, region, orders, amount, customers,
  rank() OVER (PARTITION BY region ORDER BY amount DESC) AS amount_rank
FROM {t["customer_daily"]}""",
            "writes": t["top_customers"],
            "reads": [t["customer_daily"]],
            "after": ["customer_daily"],
            "description": "Rank days per region.",
        },
        {
            "id": "region_mart",
            "kind": "sql",
            "sql": f"""SELECT region, sum(orders) AS orders, round(sum(amount), 2) AS amount,
  max(customers) AS peak_customers
FROM {t["top_customers"]}
WHERE amount_rank <= 10
GROUP BY region""",
            "writes": t["region_mart"],
            "reads": [t["top_customers"]],
            "after": ["top_customers"],
            "description": "The region mart.",
        },
        {
            "id": "check_mart",
            "kind": "sql",
            "queries": {
                "row_count": f"SELECT count(*) AS row_count FROM {t['region_mart']}",
                "negative_amounts": f"SELECT count(*) AS bad FROM {t['region_mart']} WHERE amount < 0",
            },
            "writes": None,
            "reads": [t["region_mart"]],
            "after": ["region_mart"],
            "description": "Verification queries.",
        },
        {
            "id": "publish",
            "kind": "python",
            "function": "bench_functions:publish",
            "writes": None,
            "reads": [t["region_mart"]],
            "after": ["check_mart", "region_mart"],
            "explicit_after": ["check_mart"],
            "description": "Publish the mart.",
        },
    ]


def _pipeline_id(index: int) -> str:
    return f"bench_p{index:03d}"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())


def akko_spec(index: int) -> str:
    ns = f"p{index:03d}"
    lines = [
        f"pipeline: {_pipeline_id(index)}",
        f"description: Benchmark pipeline {index} (orders -> marts).",
        "owner: data-platform",
        "team: bench",
        "tags: [bench, orders]",
        "schedule: '0 6 * * *'",
        "defaults:",
        "  retries: 1",
        "  retry_delay: 30s",
        "steps:",
    ]
    for step in pipeline_steps(ns):
        lines += [
            f"  - id: {step['id']}",
            f"    kind: {step['kind']}",
            f"    description: {step['description']}",
        ]
        if step["kind"] == "ingest":
            lines += [
                "    source:",
                f"      files: {step['files']}",
                "    output:",
                f"      table: {step['writes']}",
                "      mode: overwrite",
            ]
        elif step["kind"] == "sql" and "queries" in step:
            lines.append("    queries:")
            for name, sql in step["queries"].items():
                lines.append(f"      {name}: {sql}")
        elif step["kind"] == "sql":
            lines += ["    sql: |", _indent(step["sql"], 6), "    output:", f"      table: {step['writes']}"]
            lines.append("      mode: overwrite")
        else:
            lines += [
                f"    function: {step['function']}",
                f"    inputs: [{', '.join(step['reads'])}]",
                f"    after: [{', '.join(step['explicit_after'])}]",
                "    params:",
                "      channel: reports",
            ]
    return "\n".join(lines) + "\n"


def _asset_uri(table_name: str) -> str:
    namespace, name = table_name.split(".", 1)
    return f"iceberg://akko/{namespace}/{name}"


def dagfactory_yaml(index: int) -> str:
    """The same DAG in dag-factory 1.1.0 YAML: PythonOperator / SQLExecuteQueryOperator tasks."""
    ns = f"p{index:03d}"
    lines = [
        f"{_pipeline_id(index)}:",
        "  default_args:",
        "    owner: data-platform",
        "    retries: 1",
        "    retry_delay:",
        "      __type__: datetime.timedelta",
        "      seconds: 30",
        f"  description: Benchmark pipeline {index} (orders -> marts).",
        "  schedule: '0 6 * * *'",
        "  start_date: 2024-01-01",
        "  catchup: false",
        "  max_active_runs: 1",
        "  tags: [bench, orders, 'team:bench']",
        "  tasks:",
    ]
    for step in pipeline_steps(ns):
        lines += [f"    {step['id']}:", f"      doc_md: {step['description']}"]
        if step["kind"] == "ingest":
            lines += [
                "      operator: airflow.providers.standard.operators.python.PythonOperator",
                "      python_callable: df_tasks.ingest_file",
                "      op_kwargs:",
                f"        path: {step['files']}",
                f"        table: {step['writes']}",
            ]
        elif step["kind"] == "sql":
            lines += [
                "      operator: airflow.providers.common.sql.operators.sql.SQLExecuteQueryOperator",
                "      conn_id: lakehouse",
            ]
            if "queries" in step:
                lines.append("      sql:")
                lines += [f"        - {sql}" for sql in step["queries"].values()]
            else:
                lines += ["      sql: |", _indent(step["sql"], 8)]
        else:
            lines += [
                "      operator: airflow.providers.standard.operators.python.PythonOperator",
                "      python_callable: df_tasks.publish",
                "      op_kwargs:",
                "        channel: reports",
            ]
        if step["reads"]:
            lines.append("      inlets: [{}]".format(", ".join(_asset_uri(t) for t in step["reads"])))
        if step["writes"]:
            lines.append(f"      outlets: [{_asset_uri(step['writes'])}]")
        if step["after"]:
            lines.append("      dependencies: [{}]".format(", ".join(step["after"])))
    return "\n".join(lines) + "\n"


DF_LOADER = '''"""dag-factory loader (Airflow DAG file): every YAML file in this folder becomes a DAG."""
from pathlib import Path

from dagfactory import load_yaml_dags

load_yaml_dags(globals_dict=globals(), dags_folder=str(Path(__file__).parent))
'''

DF_TASKS = '''"""Callables of the dag-factory benchmark DAGs (never run by the benchmark)."""


def ingest_file(path, table):
    return {"path": path, "table": table}


def publish(channel):
    return {"channel": channel}
'''


def generate(root: Path, count: int) -> tuple[Path, Path]:
    """Write the AKKO project (specs, akko.yaml, shims) and the dag-factory folder; return both DAG folders."""
    from akko_orchestrator.compiler.shims import sync_shims

    akko_root = root / "akko"
    (akko_root / "pipelines").mkdir(parents=True)
    (akko_root / "akko.yaml").write_text(
        "project: bench\nlakehouse: akko\npipelines: pipelines\npython_path: [pipelines]\n"
    )
    for i in range(count):
        (akko_root / "pipelines" / f"{_pipeline_id(i)}.yaml").write_text(akko_spec(i))
    akko_dags = akko_root / "dags"
    sync_shims(akko_root / "pipelines", akko_dags, akko_root)

    df_dags = root / "dagfactory" / "dags"
    df_dags.mkdir(parents=True)
    for i in range(count):
        (df_dags / f"{_pipeline_id(i)}.yaml").write_text(dagfactory_yaml(i))
    (df_dags / "load_yaml_dags.py").write_text(DF_LOADER)
    lib = root / "dagfactory" / "lib"
    lib.mkdir()
    (lib / "df_tasks.py").write_text(DF_TASKS)
    sys.path.insert(0, str(lib))  # like a plugins/ folder or an installed package
    return akko_dags, df_dags


def plain_dag_py(index: int) -> str:
    """Context only: the same DAG hand-written in Python, one file per DAG (same operators as dag-factory's)."""
    ns = f"p{index:03d}"
    lines = [
        '"""Hand-written Airflow DAG (benchmark reference)."""',
        "import datetime as dt",
        "",
        "from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator",
        "from airflow.providers.standard.operators.python import PythonOperator",
        "from airflow.sdk import DAG, Asset",
        "from df_tasks import ingest_file, publish",
        "",
        "with DAG(",
        f"    dag_id={_pipeline_id(index)!r},",
        f"    description='Benchmark pipeline {index} (orders -> marts).',",
        "    schedule='0 6 * * *',",
        "    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),",
        "    catchup=False,",
        "    max_active_runs=1,",
        "    tags=['bench', 'orders', 'team:bench'],",
        "    default_args={'owner': 'data-platform', 'retries': 1, 'retry_delay': dt.timedelta(seconds=30)},",
        "):",
    ]
    steps = pipeline_steps(ns)
    for step in steps:
        common = f"task_id={step['id']!r}, doc_md={step['description']!r}"
        if step["reads"]:
            common += ", inlets=[{}]".format(", ".join(f"Asset({_asset_uri(t)!r})" for t in step["reads"]))
        if step["writes"]:
            common += f", outlets=[Asset({_asset_uri(step['writes'])!r})]"
        if step["kind"] == "ingest":
            kwargs = {"path": step["files"], "table": step["writes"]}
            lines.append(
                f"    {step['id']} = PythonOperator({common}, python_callable=ingest_file, op_kwargs={kwargs!r})"
            )
        elif step["kind"] == "sql":
            sql = list(step["queries"].values()) if "queries" in step else step["sql"]
            lines.append(
                f"    {step['id']} = SQLExecuteQueryOperator({common}, conn_id='lakehouse', sql={sql!r})"
            )
        else:
            lines.append(
                f"    {step['id']} = PythonOperator({common}, python_callable=publish, op_kwargs={{'channel': 'reports'}})"
            )
    for step in steps:
        for upstream in step["after"]:
            lines.append(f"    {upstream} >> {step['id']}")
    return "\n".join(lines) + "\n"


def generate_plain(root: Path, count: int) -> Path:
    folder = root / "plain" / "dags"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{_pipeline_id(i)}.py").write_text(plain_dag_py(i))
    return folder


# --------------------------------------------------------------------------------------------------------------
# Loading and checking
# --------------------------------------------------------------------------------------------------------------


def load(folder: Path) -> tuple[float, Any]:
    """Seconds to fill a DagBag from `folder`, and the bag."""
    from airflow.dag_processing.dagbag import DagBag

    gc.collect()
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(folder))
    return time.perf_counter() - started, bag


def check(bag: Any, count: int, label: str) -> dict[str, list[str]]:
    """Assert N DAGs of 10 tasks, no import error; return each DAG's {task: sorted upstream} shape."""
    problems = []
    if bag.import_errors:
        first = next(iter(bag.import_errors.items()))
        problems.append(f"{len(bag.import_errors)} import error(s), first: {first[0]}: {first[1][-500:]}")
    if len(bag.dags) != count:
        problems.append(f"{len(bag.dags)} DAGs instead of {count}")
    wrong = {d: len(dag.tasks) for d, dag in bag.dags.items() if len(dag.tasks) != STEPS_PER_PIPELINE}
    if wrong:
        problems.append(f"DAGs without {STEPS_PER_PIPELINE} tasks: {dict(list(wrong.items())[:3])}")
    if problems:
        raise RuntimeError(f"{label}: " + "; ".join(problems))
    return {
        dag_id: sorted((t.task_id, tuple(sorted(t.upstream_task_ids))) for t in dag.tasks)
        for dag_id, dag in bag.dags.items()
    }


# --------------------------------------------------------------------------------------------------------------
# dag-processor-like: Airflow 3's dag-processor parses every file in its own forked child
# --------------------------------------------------------------------------------------------------------------


def _fork_parse(files: list[str], count: int | None) -> float:
    """Seconds to parse `files` one after another, each in a child forked from this (warm) process, the way
    Airflow 3's dag-processor does (fork per file, DagBag, DagSerialization.to_dict of every DAG)."""
    import importlib

    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.file import iter_airflow_imports

    found = 0
    started = time.perf_counter()
    for path in files:
        for module in iter_airflow_imports(
            path
        ):  # the dag-processor's parsing_pre_import_modules, in the parent
            importlib.import_module(module)
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 255
            try:
                bag = DagBag(dag_folder=path)
                for dag in bag.dags.values():
                    DagSerialization.to_dict(dag)
                sizes = {len(dag.tasks) for dag in bag.dags.values()}
                if not bag.import_errors and sizes <= {STEPS_PER_PIPELINE}:
                    code = len(bag.dags)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == 255 or code < 0:
            raise RuntimeError(f"parsing {path} in a forked child failed (exit {code})")
        found += code
    elapsed = time.perf_counter() - started
    if count is not None and found != count:
        raise RuntimeError(f"forked parse found {found} DAGs instead of {count}")
    return elapsed


AKKO_PARSE_MODULES = (
    "akko_orchestrator.compiler.entry",
    "akko_orchestrator.compiler.dag_builder",
    "akko_orchestrator.operators.steps",
)


def _fork_parse_preloaded(files: list[str], count: int) -> float:
    """`_fork_parse` from an intermediate child that first imports akko's parse modules (untimed)."""
    import importlib
    import json

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            for module in AKKO_PARSE_MODULES:
                importlib.import_module(module)
            gc.collect()
            gc.freeze()
            os.write(write_end, json.dumps(_fork_parse(files, count)).encode())
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not text:
        raise RuntimeError("the preloaded parse pass failed")
    return float(json.loads(text))


def processor_worker(
    akko_dags: Path, df_dags: Path, count: int, repeats: int, plain_dags: Path | None = None
) -> dict[str, Any]:
    """Run in a fresh process: the parent state of a dag-processor (Airflow imported, gc frozen), then fork per file.

    `akko`: as Airflow 3.3 runs it, akko's modules are imported in every child (the dag-processor pre-imports only
    `airflow.*` modules named in a DAG file). `akko_preloaded`: akko's parse modules imported in the parent first,
    as an `airflow_local_settings.py` importing them would do. `dagfactory`: its one loader file, one child.
    `plain` (context): hand-written .py DAG files, one per DAG, their `airflow.*` imports pre-imported.
    """
    import airflow  # noqa: F401
    import airflow.dag_processing.manager  # noqa: F401
    import airflow.dag_processing.processor  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.serialization.serialized_objects import DagSerialization  # noqa: F401

    akko_files = sorted(str(p) for p in akko_dags.glob("*.py"))
    df_files = [str(df_dags / "load_yaml_dags.py")]
    gc.collect()
    gc.freeze()
    _fork_parse(akko_files[:1], None)  # untimed: the children's own lazy imports get their bytecode cached
    _fork_parse(df_files, None)
    runs = {
        "akko": lambda: _fork_parse(akko_files, count),
        "akko_preloaded": lambda: _fork_parse_preloaded(akko_files, count),
        "dagfactory": lambda: _fork_parse(df_files, count),
    }
    if plain_dags is not None:
        plain_files = sorted(str(p) for p in plain_dags.glob("*.py"))
        _fork_parse(plain_files[:1], None)
        runs["plain"] = lambda: _fork_parse(plain_files, count)
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            times[name].append(runs[name]())
    return {name: [s * 1000 / count for s in values] for name, values in times.items()}


def _processor_measure(tmp: Path, akko_dags: Path, df_dags: Path, count: int, repeats: int) -> dict[str, Any]:
    """`processor_worker` in a fresh interpreter (so akko is not already imported), same environment."""
    import json
    import subprocess

    out = tmp / "processor.json"
    code = (
        "import json, sys; sys.path.insert(0, {bench!r}); sys.path.insert(0, {lib!r}); import bench_parse as b; "
        "from pathlib import Path; "
        "r = b.processor_worker(Path({akko!r}), Path({df!r}), {count}, {repeats}, Path({plain!r})); "
        "Path({out!r}).write_text(json.dumps(r))"
    ).format(
        bench=str(Path(__file__).resolve().parent),
        lib=str(tmp / "dagfactory" / "lib"),
        akko=str(akko_dags),
        df=str(df_dags),
        plain=str(tmp / "plain" / "dags"),
        count=count,
        repeats=repeats,
        out=str(out),
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
    ms = json.loads(out.read_text())
    return {
        "processor_akko_ms_per_dag": round(median(ms["akko"]), 2),
        "processor_akko_preloaded_ms_per_dag": round(median(ms["akko_preloaded"]), 2),
        "processor_dagfactory_ms_per_dag": round(median(ms["dagfactory"]), 2),
        "processor_ratio": round(median(ms["akko"]) / median(ms["dagfactory"]), 3),
        "processor_ratio_preloaded": round(median(ms["akko_preloaded"]) / median(ms["dagfactory"]), 3),
        "processor_plain_ms_per_dag": round(median(ms["plain"]), 2),
    }


def measure(
    pipelines: int = 100,
    repeats: int = 7,
    profile: bool = False,
    keep: bool = False,
    processor: bool = True,
    processor_repeats: int = 3,
    baseline: str | None = None,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="akko-bench-parse-"))
    try:
        result = _measure(tmp, pipelines, repeats, profile, baseline)
        if processor:
            akko_dags, df_dags = tmp / "akko" / "dags", tmp / "dagfactory" / "dags"
            result.update(_processor_measure(tmp, akko_dags, df_dags, pipelines, processor_repeats))
        return result
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


WARM_IMPORTS = (
    "airflow.dag_processing.processor",
    "airflow.providers.standard.operators.python",
    "airflow.providers.common.sql.operators.sql",
    "airflow.providers.standard.operators.trigger_dagrun",
    "airflow.providers.standard.sensors.external_task",
    "dagfactory",
    "akko_orchestrator.compiler.entry",
    "akko_orchestrator.compiler.dag_builder",
    "akko_orchestrator.operators.steps",
    "sqlglot",
)


def warm_bytecode() -> None:
    """Untimed: import what the runs import, in a throwaway process, so every timed run reads bytecode."""
    import subprocess

    code = f"import importlib; [importlib.import_module(m) for m in {WARM_IMPORTS!r}]"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def _measure(tmp: Path, count: int, repeats: int, profile: bool, baseline: str | None) -> dict[str, Any]:
    apply_env(isolated_env(tmp / "airflow", tmp / "dagfactory" / "dags"))
    (tmp / "airflow").mkdir()
    warm_bytecode()

    t0 = time.perf_counter()
    import airflow  # noqa: F401  (the ~4 s import, outside every timing)
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401

    airflow_import = time.perf_counter() - t0
    akko_dags, df_dags = generate(tmp, count)
    plain_dags = generate_plain(tmp, count)
    cache_dir = akko_dags / "__akko_cache__"

    # First loads in this process: module imports (akko, sqlglot, dag-factory, operators) + empty SQL cache.
    first_akko, bag = load(akko_dags)
    akko_shape = check(bag, count, "akko")
    first_df, bag = load(df_dags)
    df_shape = check(bag, count, "dag-factory")
    if akko_shape != df_shape:
        differing = [d for d in akko_shape if akko_shape[d] != df_shape.get(d)]
        raise RuntimeError(f"akko and dag-factory DAGs differ in shape, e.g. {differing[:1]}")
    first_plain, bag = load(plain_dags)
    if check(bag, count, "hand-written") != akko_shape:
        raise RuntimeError("the hand-written DAGs differ in shape from akko's")
    del bag
    gc.collect()
    gc.freeze()  # like Airflow's dag-processor before it forks: the warm heap is not re-scanned by every GC

    # Cold SQL-reference cache with warm imports (what a fresh deploy or an edited spec costs).
    cold = []
    for _ in range(3):
        shutil.rmtree(cache_dir, ignore_errors=True)
        seconds, bag = load(akko_dags)
        check(bag, count, "akko (cold cache)")
        cold.append(seconds)
        del bag

    # Warm: interleaved, rotating which one goes first.
    folders = {"akko": akko_dags, "df": df_dags, "plain": plain_dags}
    if baseline:
        folders["baseline"] = make_baseline(baseline, tmp, akko_dags)
        check(load(folders["baseline"])[1], count, "baseline")
    times: dict[str, list[float]] = {name: [] for name in folders}
    names = list(folders)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            seconds, bag = load(folders[name])
            check(bag, count, name)
            times[name].append(seconds)
            del bag
    akko_times, df_times = times["akko"], times["df"]

    if profile:
        _profile(akko_dags)

    per_dag = 1000 / count
    akko_ms = [s * per_dag for s in akko_times]
    df_ms = [s * per_dag for s in df_times]
    ratios = [a / d for a, d in zip(akko_ms, df_ms, strict=True)]
    result = {
        "pipelines": count,
        "tasks_per_dag": STEPS_PER_PIPELINE,
        "repeats": repeats,
        "airflow_import_s": round(airflow_import, 2),
        "akko_ms_per_dag": round(median(akko_ms), 2),
        "dagfactory_ms_per_dag": round(median(df_ms), 2),
        "akko_ms_per_dag_range": spread(akko_ms),
        "dagfactory_ms_per_dag_range": spread(df_ms),
        "ratio": round(median(akko_ms) / median(df_ms), 3),
        "ratio_of_pairs_median": round(median(ratios), 3),
        "goal_ratio_max": round(GOAL, 3),
        "akko_cold_cache_ms_per_dag": round(median([s * per_dag for s in cold]), 2),
        "akko_first_load_ms_per_dag": round(first_akko * per_dag, 2),
        "dagfactory_first_load_ms_per_dag": round(first_df * per_dag, 2),
    }
    result["meets_goal"] = result["ratio"] <= GOAL
    plain_ms = [t * per_dag for t in times["plain"]]
    result["plain_ms_per_dag"] = round(median(plain_ms), 2)
    result["plain_ms_per_dag_range"] = spread(plain_ms)
    if baseline:
        base_ms = [t * per_dag for t in times["baseline"]]
        result["baseline_ref"] = baseline
        result["baseline_ms_per_dag"] = round(median(base_ms), 2)
        result["baseline_ms_per_dag_range"] = spread(base_ms)
        result["akko_over_baseline"] = round(median(akko_ms) / median(base_ms), 3)
        result["baseline_over_dagfactory"] = round(median(base_ms) / median(df_ms), 3)
    return result


BASELINE_PACKAGE = "akko_baseline"


def extract_compiler(ref: str, dest: Path) -> None:
    """The compiler package as it is at git `ref`, importable as `akko_baseline` (the rest is today's akko)."""
    import subprocess

    package = dest / BASELINE_PACKAGE
    package.mkdir(parents=True)
    folder = "src/akko_orchestrator/compiler"

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout

    for name in (n for n in git("ls-tree", "--name-only", f"{ref}:{folder}").split() if n.endswith(".py")):
        source = git("show", f"{ref}:{folder}/{name}")
        (package / name).write_text(source.replace("akko_orchestrator.compiler.", f"{BASELINE_PACKAGE}."))
    sys.path.insert(0, str(dest))


def use_baseline(shim: Path) -> None:
    """Point a shim at the `akko_baseline` compiler."""
    text = shim.read_text().replace("akko_orchestrator.compiler.entry", f"{BASELINE_PACKAGE}.entry")
    shim.write_text(text)


def make_baseline(ref: str, tmp: Path, akko_dags: Path) -> Path:
    """A copy of the shims that compile through the compiler at git `ref` (its own cache folder too)."""
    extract_compiler(ref, tmp / "baseline")
    shims = akko_dags.parent / "dags_baseline"
    shims.mkdir()
    for shim in akko_dags.glob("*.py"):
        shutil.copy(shim, shims / shim.name)
        use_baseline(shims / shim.name)
    return shims


def _profile(akko_dags: Path, top: int = 40) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        load(akko_dags)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def report(result: dict[str, Any]) -> str:
    n = result["pipelines"]
    rows = [
        ["akko (warm shim cache)", result["akko_ms_per_dag"], result["akko_ms_per_dag_range"]],
        ["dag-factory 1.1.0", result["dagfactory_ms_per_dag"], result["dagfactory_ms_per_dag_range"]],
        ["akko, cold shim cache (imports warm)", result["akko_cold_cache_ms_per_dag"], "median of 3"],
        ["akko, first load in process", result["akko_first_load_ms_per_dag"], "cold imports + cold cache"],
        ["dag-factory, first load in process", result["dagfactory_first_load_ms_per_dag"], "cold imports"],
        [
            "(context) hand-written .py, one per DAG",
            result["plain_ms_per_dag"],
            result["plain_ms_per_dag_range"],
        ],
    ]
    if "baseline_ms_per_dag" in result:
        rows.insert(
            1,
            [
                f"akko compiler at {result['baseline_ref']}",
                result["baseline_ms_per_dag"],
                result["baseline_ms_per_dag_range"],
            ],
        )
    verdict = "meets" if result["meets_goal"] else "MISSES"
    baseline = ""
    if "baseline_ms_per_dag" in result:
        baseline = (
            f"\nakko / akko at {result['baseline_ref']}: {result['akko_over_baseline']}; "
            f"akko at {result['baseline_ref']} / dag-factory: {result['baseline_over_dagfactory']}"
        )
    processor = ""
    if "processor_akko_ms_per_dag" in result:
        rows_p = [
            ["akko (akko imported in every child)", result["processor_akko_ms_per_dag"]],
            ["akko, parse modules preloaded in parent", result["processor_akko_preloaded_ms_per_dag"]],
            ["dag-factory (one loader file)", result["processor_dagfactory_ms_per_dag"]],
            ["(context) hand-written .py, one per DAG", result["processor_plain_ms_per_dag"]],
        ]
        processor = (
            "\n\ndag-processor-like: one forked child per file, DagBag + DagSerialization (ms per DAG, median)\n"
            + table(["", "ms/DAG"], rows_p)
            + f"\nratio akko/dag-factory: {result['processor_ratio']} as is, "
            f"{result['processor_ratio_preloaded']} with akko preloaded"
        )
    return (
        f"DagBag parse of {n} DAGs x {result['tasks_per_dag']} tasks, {result['repeats']} interleaved repeats "
        f"(ms per DAG, median and min-max)\n"
        + table(["", "ms/DAG", "range"], rows)
        + f"\nratio akko/dag-factory: {result['ratio']} (median of per-repeat pairs {result['ratio_of_pairs_median']})"
        f"; goal <= {result['goal_ratio_max']}: {verdict}" + baseline + processor
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile three warm akko loads")
    parser.add_argument("--keep", action="store_true", help="keep the generated folders")
    parser.add_argument("--processor-repeats", type=int, default=3, help="0 skips the fork-per-file measure")
    parser.add_argument(
        "--baseline",
        metavar="GIT_REF",
        help="also load the shims with the compiler as of GIT_REF (before/after)",
    )
    args = parser.parse_args()
    result = measure(
        args.pipelines,
        args.repeats,
        args.profile,
        args.keep,
        processor=args.processor_repeats > 0,
        processor_repeats=args.processor_repeats,
        baseline=args.baseline,
    )
    print(report(result))
    if os.environ.get("BENCH_JSON"):
        import json

        print(json.dumps(result))


if __name__ == "__main__":
    main()
