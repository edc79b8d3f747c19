"""SQL engines behind one interface, chosen by the profile: DuckDB (embedded) now; Trino on `cluster`."""
