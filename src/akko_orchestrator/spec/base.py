"""What every spec model shares: identifier, table and duration formats, and the strict base model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

IDENT = r"^[a-z][a-z0-9_]*$"
TABLE = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"
DURATION = r"^\d+(\.\d+)?(ms|s|m|h|d)$"
PARTITION = r"^(?:[a-z_][a-z0-9_]*|(?:year|month|day|hour)\([a-z_][a-z0-9_]*\)|(?:bucket|truncate)\(\d+,\s*[a-z_][a-z0-9_]*\))$"
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
FILE_FORMATS = ("csv", "parquet", "json")

Identifier = Annotated[str, Field(pattern=IDENT, max_length=100)]
TableName = Annotated[str, Field(pattern=TABLE, description="Iceberg table as `namespace.table`.")]
Duration = Annotated[str, Field(pattern=DURATION, description="A duration such as `30s`, `5m`, `2h`.")]


def duration_seconds(text: str) -> float:
    """'90s' -> 90.0, '5m' -> 300.0."""
    match = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def file_format(files: str | None, declared: str | None) -> str | None:
    """The declared format, else the one the file extension names (jsonl/ndjson are json), else None."""
    if declared:
        return declared
    suffix = (files or "").rsplit(".", 1)[-1].lower()
    return {"jsonl": "json", "ndjson": "json"}.get(suffix, suffix if suffix in FILE_FORMATS else None)


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
