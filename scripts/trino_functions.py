"""Regenerate `src/akko_orchestrator/plan/trino_functions.txt`, the Trino function list behind the embedded engine's
allow-list (plan/trino_sql.py), from a running Trino: `SHOW FUNCTIONS` on the given profile's Trino.

    uv run akko stack up && uv run python scripts/trino_functions.py [PROFILE] && uv run akko stack down

tests/integration/test_trino_functions.py checks the committed list against the stack's Trino.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.engines.registry import create_engine
    from akko_orchestrator.lakehouse.catalog import open_catalog
    from akko_orchestrator.plan.trino_functions import FUNCTIONS_FILE, format_functions

    project = load_project(ROOT, profile=sys.argv[1] if len(sys.argv) > 1 else "cluster")
    engine = create_engine("trino", project, open_catalog(project))
    try:
        listed = engine.query("SHOW FUNCTIONS", [])
    finally:
        engine.close()
    rows = zip(listed.column("Function").to_pylist(), listed.column("Function Type").to_pylist(), strict=True)
    FUNCTIONS_FILE.write_text(format_functions(rows))
    print(f"wrote {listed.num_rows} signatures to {FUNCTIONS_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
