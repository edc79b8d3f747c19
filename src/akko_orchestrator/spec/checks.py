"""Data-quality check models: one `Check` per rule on a step's output table (see quality/ for how they run)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from akko_orchestrator.spec.base import Identifier, PositiveDuration, SpecModel, TableName

CHECK_KINDS = (
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "row_count",
    "freshness",
    "relationships",
    "expression",
    "sql",
)
PERCENT = r"^\d+(\.\d+)?%$"
Scalar = str | int | float | bool
Bound = int | float | date | datetime | str


class AcceptedValues(SpecModel):
    """Every non-NULL value of `column` is one of `values`."""

    column: Identifier
    values: list[Scalar] = Field(min_length=1, description="Every non-NULL value must be one of these.")

    @field_validator("values")
    @classmethod
    def _one_kind(cls, values: list[Scalar]) -> list[Scalar]:
        kinds = sorted({_kind(value) for value in values})
        if len(kinds) > 1:  # `IN (1, 'a')` is a type error on Trino
            raise ValueError(
                f"values mix {' and '.join(kinds)}: a column holds one type; quote them all to compare as text"
            )
        return values


class RangeCheck(SpecModel):
    """Inclusive bounds: numbers, or ISO dates/timestamps for date and timestamp columns."""

    column: Identifier
    min: Bound | None = None
    max: Bound | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        for name, bound in (("min", self.min), ("max", self.max)):
            if isinstance(bound, float) and not math.isfinite(bound):
                raise ValueError(f"`{name}` must be a finite number (leave it out for no bound)")
        if self.min is not None and self.max is not None:
            problem = _bounds_problem(self.min, self.max)
            if problem is not None:
                raise ValueError(problem)
        return self


class RowCount(SpecModel):
    """Absolute bounds on the table's rows after the write, and/or change relative to the rows before it."""

    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)
    max_shrink: Annotated[str, Field(pattern=PERCENT)] | None = Field(
        None, description="e.g. `10%`: fail if the table loses more than 10% of its rows in this write."
    )
    max_growth: Annotated[str, Field(pattern=PERCENT)] | None = Field(
        None, description="e.g. `200%`: fail if the table grows by more than that in this write."
    )

    @model_validator(mode="after")
    def _a_bound(self) -> RowCount:
        if all(v is None for v in (self.min, self.max, self.max_shrink, self.max_growth)):
            raise ValueError("give at least one of `min`, `max`, `max_shrink`, `max_growth`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is above `max` ({self.max})")
        if self.max_shrink is not None and float(self.max_shrink.rstrip("%")) > 100:
            raise ValueError(
                f"`max_shrink` {self.max_shrink} is over 100%: a table cannot lose more than all its rows "
                "(`100%` allows an empty table; give at most that)"
            )
        return self


class Freshness(SpecModel):
    """The newest value of `column` is at most `max_age` old when the check runs (a date counts until its end;
    a timestamp without time zone is read as UTC)."""

    column: Identifier = Field(description="A timestamp or date column.")
    max_age: PositiveDuration = Field(description="The newest value must be at most this old, e.g. `26h`.")


class Relationship(SpecModel):
    """Every non-NULL `column` value exists as `field` in table `to` (a foreign key)."""

    column: Identifier
    to: TableName
    field: Identifier | None = Field(None, description="Default: the same name as `column`.")


class Check(SpecModel):
    """One data-quality check on the step's output table, run on the written data before it is published."""

    name: Identifier | None = Field(None, description="Default: the kind and its columns, e.g. `unique_id`.")
    severity: Literal["error", "warn"] = Field(
        "error", description="`error` blocks the publish; `warn` reports and publishes."
    )
    not_null: list[Identifier] | None = Field(None, description="Columns that must never be NULL.")
    unique: list[Identifier] | None = Field(
        None, description="Columns whose combined value is unique (rows with a NULL key are not compared)."
    )
    accepted_values: AcceptedValues | None = None
    range: RangeCheck | None = None
    row_count: RowCount | None = None
    freshness: Freshness | None = None
    relationships: Relationship | None = None
    expression: str | None = Field(None, description="A Trino SQL condition every row must meet.")
    sql: str | None = Field(None, description="A Trino SQL query returning the failing rows (none: pass).")

    @field_validator("not_null", "unique", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        given = [kind for kind in CHECK_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one check kind of {', '.join(CHECK_KINDS)} (got {', '.join(given) or 'none'})"
            )
        if self.kind in ("not_null", "unique") and not getattr(self, self.kind):
            raise ValueError(f"`{self.kind}` needs at least one column")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in CHECK_KINDS if getattr(self, kind) is not None)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "booleans"
    return "numbers" if isinstance(value, int | float) else "text"


def _comparable(value: Bound) -> tuple[str, Any]:
    """A bound as (its kind, a value comparable within the kind): numbers, dates and timestamps (also as ISO text,
    which quality/checks.py writes as DATE or TIMESTAMP literals), or text."""
    if isinstance(value, bool):
        return "boolean", value
    if isinstance(value, int | float):
        return "number", value
    if isinstance(value, datetime):
        return "date or timestamp", value.replace(tzinfo=None)
    if isinstance(value, date):
        return "date or timestamp", datetime(value.year, value.month, value.day)
    try:
        return "date or timestamp", datetime.fromisoformat(value.replace("T", " ")).replace(tzinfo=None)
    except ValueError:
        return "text", value


def _bounds_problem(low: Bound, high: Bound) -> str | None:
    """Why `min` and `max` cannot both hold: of different kinds, or `min` above `max` (no value would pass)."""
    (low_kind, low_value), (high_kind, high_value) = _comparable(low), _comparable(high)
    if low_kind != high_kind:
        return f"`min` is a {low_kind} and `max` a {high_kind}: give both bounds of the column's type"
    if low_value > high_value:
        return f"`min` ({low}) is above `max` ({high}): no value can pass; swap them"
    return None
