"""`akko ci`: every check a pipeline repo needs before a merge (specs, JSON Schema, DAG imports, pipeline tests)."""
