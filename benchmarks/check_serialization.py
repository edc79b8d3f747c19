"""Snapshot (or compare) the serialized form of compiled DAGs, to prove a parse-path optimisation changes nothing.

Airflow versions a DAG whenever its serialization changes, so compiler work must keep
`DagSerialization.to_dict(dag)` (and so the `dag_hash` Airflow computes from it) byte-for-byte identical.
This compiles the repo's example pipelines (`pipelines/*.yaml`) plus a few generated benchmark pipelines
(ingest, sql, verification queries, python) through their shims, and writes or compares the JSON.

    uv run python benchmarks/check_serialization.py --write /tmp/before.json   # before a change
    uv run python benchmarks/check_serialization.py --compare /tmp/before.json # after it: exit 1 on any diff
    uv run python benchmarks/check_serialization.py --baseline GIT_REF         # against the compiler at a ref
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, apply_env, isolated_env  # noqa: E402

GENERATED = 3  # generated benchmark pipelines added to the examples


def snapshot(root: Path, baseline: str | None = None) -> dict[str, Any]:
    """dag_id -> {"hash": dag_hash, "data": serialized dict} for every example and generated pipeline, compiled
    by today's compiler or, with `baseline`, by the compiler as it was at that git ref."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.serialization.serialized_objects import DagSerialization
    from bench_parse import akko_spec, extract_compiler, use_baseline

    from akko_orchestrator.compiler.shims import sync_shims

    examples = root / "examples-dags"
    sync_shims(REPO / "pipelines", examples, REPO)
    generated = root / "generated"
    (generated / "pipelines").mkdir(parents=True)
    (generated / "akko.yaml").write_text("project: bench\nlakehouse: akko\n")
    for i in range(GENERATED):
        (generated / "pipelines" / f"bench_p{i:03d}.yaml").write_text(akko_spec(i))
    sync_shims(generated / "pipelines", generated / "dags", generated)
    folders = [(examples, REPO), (generated / "dags", generated)]
    if baseline:
        extract_compiler(baseline, root / "package")
        for dags, _ in folders:
            for shim in dags.glob("*.py"):
                use_baseline(shim)
    else:
        _check_cached_specs(folders)

    result: dict[str, Any] = {}
    for folder, _ in folders:
        for _ in range(2):  # the first load fills the shim cache; the second is the cached path
            bag = DagBag(dag_folder=str(folder))
            if bag.import_errors:
                raise RuntimeError(f"import errors: {bag.import_errors}")
            for dag_id, dag in sorted(bag.dags.items()):
                data = DagSerialization.to_dict(dag)
                text = json.dumps(data, sort_keys=True, default=str)
                text = text.replace(str(root), "<TMP>").replace(str(root.parent), "<TMP>")  # + AIRFLOW_HOME
                entry = {"hash": SerializedDagModel.hash(json.loads(text)), "data": json.loads(text)}
                if dag_id in result and result[dag_id] != entry:
                    raise RuntimeError(f"{dag_id}: cold-cache and warm-cache loads serialize differently")
                result[dag_id] = entry
    return result


def _check_cached_specs(folders: list[tuple[Path, Path]]) -> None:
    """The plan compiled through the shim cache equals the plan compiled from the YAML alone, key order too."""
    from akko_orchestrator.compiler.entry import CACHE_DIR, compile_plan

    for dags, root in folders:
        for shim in sorted(dags.glob("*.py")):
            spec_rel = shim.read_text().split("load_dag(__file__, ", 1)[1].split(")", 1)[0]
            spec = (dags / ast.literal_eval(spec_rel)).resolve()
            cache = dags / CACHE_DIR / f"{shim.stem}.json"
            plain = compile_plan(spec, root)
            for _ in range(2):  # fills the cache, then reads it
                cached = compile_plan(spec, root, cache)
                if (
                    repr(cached) != repr(plain)
                    or cached.pipeline.model_dump_json() != plain.pipeline.model_dump_json()
                ):
                    raise RuntimeError(f"{spec}: the cached plan differs from the plan compiled from YAML")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the snapshot to this file")
    group.add_argument("--compare", type=Path, help="compare with a snapshot written before")
    group.add_argument(
        "--baseline", metavar="GIT_REF", help="compare with the compiler at GIT_REF, in this run"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="akko-serial-"))
    try:
        apply_env(isolated_env(tmp / "airflow"))
        (tmp / "airflow").mkdir()
        current = snapshot(tmp / "current")
        before = snapshot(tmp / "baseline", args.baseline) if args.baseline else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for dag_id, entry in current.items():
        print(f"{dag_id:28s} {entry['hash']}  tasks={len(entry['data']['dag']['tasks'])}")
    if args.write:
        args.write.write_text(json.dumps(current, sort_keys=True, indent=1))
        print(f"wrote {len(current)} DAGs to {args.write}")
        return
    if before is None:
        before = json.loads(args.compare.read_text())
    diffs = sorted(d for d in before.keys() | current.keys() if before.get(d) != current.get(d))
    if diffs:
        for dag_id in diffs:
            old = json.dumps(before.get(dag_id), sort_keys=True, indent=1).splitlines()
            new = json.dumps(current.get(dag_id), sort_keys=True, indent=1).splitlines()
            print("\n".join(list(difflib.unified_diff(old, new, "before", "after", lineterm=""))[:60]))
        print(f"DIFFERENT: {', '.join(diffs)}")
        sys.exit(1)
    print(f"identical: {len(current)} DAGs, same serialization and dag_hash")


if __name__ == "__main__":
    main()
