"""What `akko ci` found: located problems, and each step's outcome (its time, what it covered, or why skipped)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from akko_orchestrator.errors import SpecIssue

STEPS = ("validate", "schema", "dags", "tests")


@dataclass(frozen=True)
class Problem:
    """One problem, `file:line:col: [step/rule] message`; `file` relative to the project folder."""

    file: str
    line: int
    column: int
    step: str
    rule: str
    message: str

    def format(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: [{self.step}/{self.rule}] {self.message}"

    @classmethod
    def of_issue(cls, issue: SpecIssue, step: str, rule: str) -> Problem:
        """A spec issue (validation, schema): its text after the location, with its suggestion."""
        text = f"{issue.field}: {issue.reason}" if issue.field else issue.reason
        if issue.suggestion:
            text += f" ({issue.suggestion})"
        return cls(issue.file, issue.line or 1, issue.column or 1, step, rule, text)


@dataclass
class StepOutcome:
    """`status`: ok, failed or skipped; `detail`: what was covered, or why it was skipped."""

    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # dags: parse seconds per file


@dataclass
class CiReport:
    problems: list[Problem] = field(default_factory=list)
    steps: list[StepOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, step: str) -> int:
        return sum(p.step == step for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "steps": [asdict(s) for s in self.steps],
        }
