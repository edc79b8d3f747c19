"""`from akko.testing import run_pipeline`: see `akko_orchestrator.testing`."""

from akko_orchestrator.testing import (
    CheckOutcome,
    PipelineResult,
    SandboxProject,
    TaskRun,
    run_pipeline,
    sandbox_project,
)
from akko_orchestrator.testing.plugin import AkkoLakehouse

__all__ = [
    "AkkoLakehouse",
    "CheckOutcome",
    "PipelineResult",
    "SandboxProject",
    "TaskRun",
    "run_pipeline",
    "sandbox_project",
]
