"""`akko.testing`: run a pipeline in a test, in process, on a temporary embedded lakehouse with given input tables;
assert on its output tables and its checks. See docs/ci.md.

    from akko.testing import run_pipeline

    def test_sales_gate():
        result = run_pipeline("akko_e2e_pipeline", params={"bad_rows": 2})
        assert result.steps["transform_sales"] == "failed"
        assert result.check("demo.sales", "accepted_values_region").status == "fail"
"""

from akko_orchestrator.testing.result import CheckOutcome, PipelineResult, TaskRun
from akko_orchestrator.testing.runner import SandboxProject, run_pipeline, sandbox_project

__all__ = ["CheckOutcome", "PipelineResult", "SandboxProject", "TaskRun", "run_pipeline", "sandbox_project"]
