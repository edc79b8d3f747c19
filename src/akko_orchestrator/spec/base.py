"""What every spec model shares: identifier, table and duration formats, connection ids, and the strict base model.

Some values have a valid format and still cannot work: a timeout of `0s` (Airflow reads it as no timeout at all), a
connection id holding a URI with its password. Their rules live here, beside the formats, so every field of that
kind gets them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from akko_orchestrator.spec.secret_values import secret_in_conn_id

IDENT = r"^[a-z][a-z0-9_]*$"
TABLE = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"
DURATION = r"^\d+(\.\d+)?(ms|s|m|h|d)$"
PARTITION = r"^(?:[a-z_][a-z0-9_]*|(?:year|month|day|hour)\([a-z_][a-z0-9_]*\)|(?:bucket|truncate)\(\d+,\s*[a-z_][a-z0-9_]*\))$"
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
FILE_FORMATS = ("csv", "parquet", "json")


def duration_seconds(text: str) -> float:
    """'90s' -> 90.0, '5m' -> 300.0."""
    match = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _positive(text: str) -> str:
    """A wait or an age limit of zero cannot work: a deadline already missed, data never fresh."""
    if re.match(DURATION, text) and duration_seconds(text) <= 0:
        raise ValueError("must be longer than zero: give a positive duration, e.g. `30s`, `5m`, `2h`")
    return text


def _timeout(text: str) -> str:
    """Airflow reads an `execution_timeout` of zero as no timeout at all; under a second no task even starts."""
    if re.match(DURATION, text) and duration_seconds(text) < 1:
        raise ValueError(
            "a timeout under 1s cannot work (Airflow reads `0s` as no timeout at all; no task starts in less "
            "than a second): give a duration such as `30m`, or leave `timeout` out for no timeout"
        )
    return text


def _conn_id(value: str) -> str:
    problem = secret_in_conn_id(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Identifier = Annotated[str, Field(pattern=IDENT, max_length=100)]
TableName = Annotated[str, Field(pattern=TABLE, description="Iceberg table as `namespace.table`.")]
Duration = Annotated[str, Field(pattern=DURATION, description="A duration such as `30s`, `5m`, `2h`.")]
# A duration that must be longer than zero (a deadline's `within`, a freshness `max_age`).
PositiveDuration = Annotated[
    str,
    Field(pattern=DURATION, description="A duration such as `30s`, `5m`, `2h`."),
    AfterValidator(_positive),
]
# A step's `timeout` (Airflow `execution_timeout`): at least a second; no value means no timeout.
Timeout = Annotated[
    str,
    Field(pattern=DURATION, description="A duration such as `30s`, `5m`, `2h`."),
    AfterValidator(_timeout),
]
# The name of an Airflow connection: never the URI, password or token it holds.
ConnId = Annotated[str, Field(min_length=1, max_length=250), AfterValidator(_conn_id)]


def file_format(files: str | None, declared: str | None) -> str | None:
    """The declared format, else the one the file extension names (jsonl/ndjson are json), else None."""
    if declared:
        return declared
    suffix = (files or "").rsplit(".", 1)[-1].lower()
    return {"jsonl": "json", "ndjson": "json"}.get(suffix, suffix if suffix in FILE_FORMATS else None)


def argument_clashes(
    inputs: list[str], sources: dict[str, Any], params: dict[str, Any], reserved: tuple[str, ...]
) -> str | None:
    """Arguments are matched by name (runtime/transforms.py `match_arguments`): a name given twice would silently
    pass only one of its values, a reserved one would be replaced by AKKO's."""
    shorts = [table.split(".", 1)[1] for table in dict.fromkeys(inputs)]
    names = [*shorts, *sources, *params]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        return f"argument names used twice (inputs, sources, params): {', '.join(twice)}"
    taken = sorted(set(reserved) & set(names))
    if taken:
        return f"reserved argument names, which AKKO passes itself: {', '.join(taken)}"
    return None


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
