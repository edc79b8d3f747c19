"""The embedded SQL engine: DuckDB answering Trino SQL as Trino does, on a locked-down connection."""
