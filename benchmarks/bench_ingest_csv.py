"""The cost of strict CSV reading: AKKO's reader (lakehouse/csv_read.py: pyarrow's table kept only if its rows
reconcile with the file's own line count, DuckDB's strict reader otherwise) against the reader it replaced (the
file's bytes through pyarrow.csv.read_csv, types normalized), interleaved, on a generated 2.6 million row CSV
(~130 MB: the issue's probe without its bad quote).

    uv run python benchmarks/bench_ingest_csv.py [--rows N] [--runs N]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Any

from _common import WORK, median, spread, table

ROWS = 2_600_000
RUNS = 5


def write_csv(path: Path, rows: int) -> None:
    regions = ("north", "south", "east", "west")
    with path.open("w") as handle:
        handle.write("order_id,region,product,qty,revenue,ordered_at\n")
        for i in range(rows):
            handle.write(
                f"{i},{regions[i % 4]},prod {i % 997},{i % 13},{(i % 1000) * 1.25:.2f},"
                f"2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00\n"
            )


def pyarrow_reader(path: Path) -> int:
    """What ingest did before: the whole file's bytes, pyarrow's reader, types normalized."""
    import pyarrow.csv as pacsv

    from akko_orchestrator.lakehouse.arrow_io import normalize

    return normalize(pacsv.read_csv(io.BytesIO(path.read_bytes()))).num_rows


def akko_reader(path: Path, on_bad_rows: str) -> int:
    from akko_orchestrator.lakehouse.file_read import read_file

    return read_file(str(path), "csv", path.name, on_bad_rows).table.num_rows


def measure(rows: int = ROWS, runs: int = RUNS) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"orders-{rows}.csv"
    if not path.exists():
        write_csv(path, rows)
    readers = {
        "pyarrow (before)": lambda: pyarrow_reader(path),
        "akko, on_bad_rows: fail": lambda: akko_reader(path, "fail"),
        "akko, on_bad_rows: quarantine": lambda: akko_reader(path, "quarantine"),
    }
    for reader in readers.values():  # imports and the page cache, once
        assert reader() == rows
    seconds: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(runs):
        for name, reader in readers.items():
            started = time.perf_counter()
            reader()
            seconds[name].append(time.perf_counter() - started)
    before = median(seconds["pyarrow (before)"])
    return {
        "rows": rows,
        "megabytes": round(path.stat().st_size / 1e6, 1),
        "seconds": seconds,
        "ratio": {name: round(median(s) / before, 2) for name, s in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    found = measure(args.rows, args.runs)
    print(f"{found['rows']:,} rows, {found['megabytes']} MB, {args.runs} interleaved runs each")
    rows = [
        [name, f"{median(s):.2f}", spread(s), f"{found['ratio'][name]:.2f}"]
        for name, s in found["seconds"].items()
    ]
    print(table(["reader", "median s", "min-max s", "/ pyarrow"], rows))


if __name__ == "__main__":
    main()
