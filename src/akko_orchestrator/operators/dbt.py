"""The operators of a dbt step's task group: `compile` (one dbt invocation for the whole selection), then one task
per model or seed (its table, written with its tests as quality gates). Heavy imports happen in `execute` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from akko_orchestrator.dbt.graph import DbtNode
from akko_orchestrator.operators.steps import AkkoStepOperator
from akko_orchestrator.spec.models import DbtStep


def _folder(operator: AkkoStepOperator, step: DbtStep) -> Path:
    from akko_orchestrator.plan.dbt_steps import project_folder

    return project_folder(Path(operator.spec_file), step)


class DbtCompileOperator(AkkoStepOperator):
    ui_color = "#ffe4d6"

    def lineage_writes(self) -> list[str]:
        return []  # compiling writes no table

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.dbt.compile import compile_step

        step, graph = self.planned.step, self.planned.dbt
        assert isinstance(step, DbtStep) and graph is not None
        return compile_step(ctx, step, graph, _folder(self, step))


class DbtNodeOperator(AkkoStepOperator):
    """One model or seed (`node`): its table, in one guarded write."""

    ui_color = "#ffedd5"

    def __init__(self, *, node: DbtNode, **kwargs: Any):
        super().__init__(**kwargs)
        self.node = node

    def lineage_reads(self) -> list[str]:
        graph = self.planned.dbt
        parents = [graph.node(p).table for p in self.node.depends_on] if graph is not None else []
        return sorted({*self.node.reads, *parents})

    def lineage_writes(self) -> list[str]:
        return [self.node.table]

    def run(self, ctx: Any, context: Any) -> Any:
        from akko_orchestrator.dbt.models import run_node

        step, graph = self.planned.step, self.planned.dbt
        assert isinstance(step, DbtStep) and graph is not None
        return self.summary(run_node(ctx, step, graph, self.node, _folder(self, step)))
