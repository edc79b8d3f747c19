"""`akko validate` on one pipeline of 10, 100 and 1,000 steps: how its time grows with the spec, against a
baseline measured in the same run.

Each spec is a chain of `sql` steps on the embedded profile (each joins the previous step's table and an earlier
one; every tenth step has a `not_null` and an `expression` check), plus a valid spec beside it, in a throwaway
project. Measured, interleaved, in one process after a warm-up (imports warm), median of `--repeats`:

- **validate**: `validate_path` on the spec's folder, as `akko validate` calls it (profile `local`, engine
  `embedded`: the Trino allow-list and DuckDB checks run);
- **floor** (the baseline): what no validation can skip, the spec loaded (YAML and the models) and each SQL text
  parsed once by sqlglot.

Reported per size: both times, the ratio validate / floor (flat across sizes when validation is linear in the
spec), the ms per step, and how many sqlglot parses validate made (one per SQL text when each is parsed once).
The headline is the 1,000-step ratio and the growth ratio: (validate at 1,000 / at 100) / (floor at 1,000 / at
100), about 1 when nothing grows faster than the spec. `--baseline GIT_REF` also times `akko validate` of the same
specs with the code at GIT_REF (a fresh process each, imports excluded), for before/after comparisons.

Run: `uv run python benchmarks/bench_validate.py [--repeats 5] [--sizes 10,100,1000] [--baseline REF]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, median, spread, table  # noqa: E402

AKKO_YAML = (
    "lakehouse: akko\nteams:\n  demo:\n    namespaces: [demo]\nprofiles:\n  local:\n    engine: embedded\n"
)
SIZES = (10, 100, 1000)


def spec_text(steps: int) -> str:
    """A chain of `steps` SQL steps: each joins the previous table and one a few steps back."""
    lines = ["pipeline: chain", "owner: bench", "team: demo", "steps:"]
    lines += ["  - id: s0", "    kind: sql", "    sql: SELECT 1 AS a, 2 AS b", "    output: {table: demo.t0}"]
    for i in range(1, steps):
        j = max(0, i - 1 - i % 3)
        sql = f"SELECT x.a, x.b + {i} AS b FROM demo.t{i - 1} x JOIN demo.t{j} y ON x.a = y.a WHERE x.b > {i}"
        lines += [f"  - id: s{i}", "    kind: sql", f"    sql: {sql}", f"    output: {{table: demo.t{i}}}"]
        if i % 10 == 0:
            lines += ["    checks:", "      - not_null: [a]", f"      - expression: b > {i}"]
    return "\n".join(lines) + "\n"


def make_project(root: Path, steps: int) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / "akko.yaml").write_text(AKKO_YAML)
    (root / "pipelines" / "chain.yaml").write_text(spec_text(steps))
    return root


def _validate(root: Path) -> tuple[float, int]:
    """Seconds of one `validate_path` and the sqlglot parses it made."""
    from akko_orchestrator.plan.sql_parse import parse_count
    from akko_orchestrator.spec.validate import validate_path

    before = parse_count()
    start = time.perf_counter()
    report = validate_path(root / "pipelines", root, None, "local", ["local"], "embedded")
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"the benchmark's spec is invalid: {report.issues[:3]}")
    return elapsed, parse_count() - before


def _floor(root: Path) -> float:
    """Seconds to load the spec and parse each SQL text once with sqlglot (nothing else)."""
    import sqlglot

    from akko_orchestrator.spec.loader import load_spec

    start = time.perf_counter()
    pipeline, _ = load_spec(root / "pipelines" / "chain.yaml")
    for step in pipeline.steps:
        for text in [getattr(step, "sql", None)] + [c.expression for c in step.checks if c.expression]:
            if text:
                sqlglot.parse(text, read="trino")
    return time.perf_counter() - start


def _at_ref(ref: str, roots: dict[int, Path], tmp: Path) -> dict[int, float]:
    """`validate_path` at git `ref` (its src/ extracted), one fresh process per size; imports not timed."""
    src = tmp / "baseline"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from akko_orchestrator.spec.validate import validate_path\n"
        "import sqlglot; sqlglot.parse('SELECT 1', read='trino')\n"
        "root = Path(sys.argv[1]); start = time.perf_counter()\n"
        "validate_path(root / 'pipelines', root, None, 'local', ['local'], 'embedded')\n"
        "print(json.dumps(time.perf_counter() - start))\n"
    )
    env = {"PYTHONPATH": str(src / "src")}
    found = {}
    for size, root in roots.items():
        run = subprocess.run(
            [sys.executable, "-c", code, str(root)], capture_output=True, text=True, env={**os.environ, **env}
        )
        found[size] = float(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else float("nan")
    return found


def measure(repeats: int = 5, sizes: tuple[int, ...] = SIZES, baseline: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="akko-bench-validate-") as folder:
        tmp = Path(folder)
        roots = {size: make_project(tmp / f"steps{size}", size) for size in sizes}
        _validate(roots[min(sizes)])  # warm-up: imports, sqlglot's dialect
        _floor(roots[min(sizes)])
        times: dict[int, dict[str, list[float]]] = {s: {"validate": [], "floor": []} for s in sizes}
        parses = {}
        for _ in range(repeats):
            for size, root in roots.items():
                elapsed, parses[size] = _validate(root)
                times[size]["validate"].append(elapsed)
                times[size]["floor"].append(_floor(root))
        at_ref = _at_ref(baseline, roots, tmp) if baseline else {}
    rows = {}
    for size in sizes:
        validate, floor = median(times[size]["validate"]), median(times[size]["floor"])
        rows[size] = {
            "steps": size,
            "validate_s": round(validate, 3),
            "validate_range": spread(times[size]["validate"]),
            "floor_s": round(floor, 3),
            "validate_over_floor": round(validate / floor, 2),
            "ms_per_step": round(1000 * validate / size, 2),
            "sqlglot_parses": parses[size],
        }
        if size in at_ref:
            rows[size]["baseline_s"] = round(at_ref[size], 3)
            rows[size]["baseline_over_validate"] = round(at_ref[size] / validate, 2)
    result: dict[str, Any] = {"repeats": repeats, "sizes": rows, "baseline_ref": baseline}
    if 100 in rows and 1000 in rows:
        growth = (rows[1000]["validate_s"] / rows[100]["validate_s"]) / (
            rows[1000]["floor_s"] / rows[100]["floor_s"]
        )
        result["growth_1000_over_100"] = round(growth, 2)
        result["headline_1000_validate_over_floor"] = rows[1000]["validate_over_floor"]
    return result


def report(result: dict[str, Any]) -> str:
    headers = ["steps", "validate s", "range", "floor s", "validate/floor", "ms/step", "sqlglot parses"]
    keys = [
        "steps",
        "validate_s",
        "validate_range",
        "floor_s",
        "validate_over_floor",
        "ms_per_step",
        "sqlglot_parses",
    ]
    if result.get("baseline_ref"):
        headers += [f"at {result['baseline_ref']} s", "baseline/validate"]
        keys += ["baseline_s", "baseline_over_validate"]
    rows = [[row.get(key, "") for key in keys] for row in result["sizes"].values()]
    text = table(headers, rows)
    if "growth_1000_over_100" in result:
        text += f"\ngrowth 100 -> 1,000 steps, validate against floor: {result['growth_1000_over_100']} (1 = linear)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--baseline", help="also time validate at this git ref (e.g. main)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    result = measure(args.repeats, tuple(int(s) for s in args.sizes.split(",")), args.baseline)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
