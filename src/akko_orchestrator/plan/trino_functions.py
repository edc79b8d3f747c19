"""Trino's function names, as Trino 476 lists them (`SHOW FUNCTIONS`), committed in `trino_functions.txt` and read
once when SQL is first checked. `scripts/trino_functions.py` regenerates the file from a running Trino, and an
integration test compares it with the stack's Trino, so the list never drifts from the engine it describes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

FUNCTIONS_FILE = Path(__file__).with_name("trino_functions.txt")
HEADER = (
    "# Trino 476's functions (SHOW FUNCTIONS), the allow-list of plan/trino_sql.py. "
    "Regenerate: scripts/trino_functions.py\n"
)


@lru_cache(maxsize=1)
def trino_functions() -> Mapping[str, frozenset[str]]:
    """Lower-case function name -> its kinds (`scalar`, `aggregate`, `window`, `table`)."""
    functions = {}
    for line in FUNCTIONS_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, kinds = line.partition("\t")
            functions[name] = frozenset(kinds.split(","))
    return functions


def format_functions(rows: Iterable[tuple[str, str]]) -> str:
    """`(name, kind)` pairs as in `SHOW FUNCTIONS` to the file's text: one sorted line per lower-case name."""
    kinds: dict[str, set[str]] = {}
    for name, kind in rows:
        kinds.setdefault(name.lower(), set()).add(kind)
    return HEADER + "".join(f"{name}\t{','.join(sorted(k))}\n" for name, k in sorted(kinds.items()))
