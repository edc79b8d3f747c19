"""One root exception; subclasses carry structured fields so the CLI and Airflow can render them."""

from __future__ import annotations

from dataclasses import dataclass


class AkkoError(Exception):
    """Root of every error AKKO Orchestrator raises on purpose (the CLI prints these without a traceback)."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec file, located as precisely as the source allows."""

    file: str
    line: int | None
    column: int | None
    field: str
    reason: str
    suggestion: str | None = None

    def format(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        reason = clipped(self.reason, REASON_CHARS)
        text = f"{where}: {self.field}: {reason}" if self.field else f"{where}: {reason}"
        if self.suggestion:
            text += f" ({clipped(self.suggestion, REASON_CHARS // 2)})"
        return text


# A spec may hold a megabyte in one name or value: whatever a rule quotes of it, one issue stays readable.
REASON_CHARS = 800


def clipped(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[: limit - 30]}... ({len(text):,} characters)"


class SpecError(AkkoError):
    """A spec file (or a set of them) is invalid; holds every issue found, not just the first."""

    def __init__(self, issues: list[SpecIssue]):
        self.issues = issues
        super().__init__("\n".join(issue.format() for issue in issues))

    @property
    def first(self) -> SpecIssue:
        return self.issues[0]


class ConfigError(AkkoError):
    """akko.yaml or AKKO_* environment variables do not describe a usable profile."""


class StepFailed(AkkoError):
    """A pipeline step failed at run time; the message says what to fix."""

    def __init__(self, step_id: str, reason: str):
        self.step_id = step_id
        self.reason = reason
        super().__init__(f"step '{step_id}' failed: {reason}")


class SchemaConflict(AkkoError):
    """A write would change a column's type incompatibly."""
