"""Where a step's result goes: one Iceberg table, its write mode and merge keys, its partition spec (re-exported by
spec/models.py)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from akko_orchestrator.spec.base import PARTITION, Identifier, SpecModel, TableName


class Output(SpecModel):
    """Where a step's result goes: one Iceberg table, written in one atomic commit."""

    table: TableName
    mode: Literal["append", "overwrite", "merge"] = Field(
        "append", description="append rows, overwrite the whole table, or merge (upsert) on `keys`."
    )
    keys: list[Identifier] = Field(default_factory=list, description="Key columns for `merge`.")
    partition_by: list[Annotated[str, Field(pattern=PARTITION)]] = Field(
        default_factory=list,
        description="Partition spec used when the table is created: `col`, `day(ts)`, `bucket(16, id)`...",
    )

    @field_validator("partition_by")
    @classmethod
    def _distinct_fields(cls, fields: list[str]) -> list[str]:
        """Iceberg refuses a field given twice, or 0 buckets or a truncation width of 0, when the table is made."""
        twice = sorted({f for f in fields if fields.count(f) > 1})
        if twice:
            raise ValueError(f"partition field given twice: {', '.join(twice)}")
        zero = [f for f in fields if re.match(r"^(?:bucket|truncate)\(0+,", f)]
        if zero:
            raise ValueError(f"{zero[0]}: the number of buckets or the width must be at least 1")
        return fields

    @model_validator(mode="after")
    def _merge_needs_keys(self) -> Output:
        if self.mode == "merge" and not self.keys:
            raise ValueError("mode 'merge' needs `keys` (the columns that identify a row)")
        if self.keys and self.mode != "merge":
            raise ValueError(f"`keys` only applies to mode 'merge', not '{self.mode}'")
        return self
