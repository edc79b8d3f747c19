"""A DuckDB for reading given files and nothing else: ingest's strict CSV reader (lakehouse/csv_read.py) parses
files a spec names, so its database may open only those files (`allowed_paths`), with external access off, no
extension loaded or installed, the configuration locked, and no progress bar drawn on the terminal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


@contextmanager
def file_reader(*paths: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB that can open only `paths` (the same lock-down as engines/duckdb/sandbox.py, for files
    instead of folders)."""
    import duckdb

    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    with duckdb.connect(config=config) as con:
        settings = (
            ("enable_progress_bar", False),
            ("allowed_paths", [os.path.realpath(p) for p in paths]),
            ("enable_external_access", False),
            ("lock_configuration", True),  # last: it freezes the others
        )
        for name, value in settings:
            con.execute(_setting(name, value))
        yield con


def _setting(name: str, value: bool | list[str]) -> str:
    """`SET name = value` as a sqlglot tree (a parameter would do, but DuckDB imports pandas to bind a list)."""
    from sqlglot import exp

    from akko_orchestrator.sql.build import render

    if isinstance(value, bool):
        node: exp.Expression = exp.Boolean(this=value)
    else:
        node = exp.Array(expressions=[exp.Literal.string(v) for v in value])
    item = exp.SetItem(this=exp.EQ(this=exp.var(name), expression=node))
    return render(exp.Set(expressions=[item]), "duckdb")
