"""The plan: a pipeline's steps in dependency order, each with the tables it reads and writes. Built by
plan/builder.py, rendered into a DAG by the compiler, read by the CLI. Imports neither Airflow nor engines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from akko_orchestrator.spec.models import IngestStep, Pipeline, Step

if TYPE_CHECKING:
    from akko_orchestrator.dbt.graph import DbtGraph


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    reads: tuple[str, ...]
    writes: str | None
    upstream: tuple[str, ...]
    dbt: DbtGraph | None = None  # a dbt step: its selected models and seeds (one table and one task each)

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def kind(self) -> str:
        return self.step.kind

    @property
    def fans_out(self) -> bool:
        return isinstance(self.step, IngestStep) and self.step.source.is_glob

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the step writes: its output, or a dbt step's models and seeds."""
        if self.dbt is not None:
            return self.dbt.tables
        return (self.writes,) if self.writes else ()


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    spec_file: str
    steps: tuple[PlannedStep, ...]  # topological order, ties broken by spec order

    def step(self, step_id: str) -> PlannedStep:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def tables_written(self) -> tuple[str, ...]:
        return tuple(sorted({t for s in self.steps for t in s.tables}))

    @property
    def external_reads(self) -> tuple[str, ...]:
        written = set(self.tables_written)
        return tuple(sorted({t for s in self.steps for t in s.reads if t not in written}))
