"""The published JSON Schema of pipeline specs, generated from the models (schemas/pipeline.schema.json)."""

from __future__ import annotations

import json

from akko_orchestrator.spec.models import Pipeline

SCHEMA_ID = "https://akko.dev/schemas/pipeline.schema.json"


def json_schema() -> dict:
    schema = Pipeline.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
