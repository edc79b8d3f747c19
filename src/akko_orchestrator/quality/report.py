"""Check results: what the task log, the XCom summary, the CLI, the history table and (later) OpenLineage's
data-quality assertions are made of."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from akko_orchestrator.errors import AkkoError

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    severity: str  # error | warn
    passed: bool
    failing_rows: int | None  # None: the check is not about rows (row_count, freshness)
    observed: str  # what was measured, e.g. "3 NULL" or "newest 2026-11-20T10:00:00+00:00"
    expected: str  # the rule, e.g. "no NULL in region"
    column: str | None = None
    sample: dict[str, Any] | None = None  # table_preview of a few failing rows

    @property
    def status(self) -> str:
        """pass, fail (blocks: an error check) or warn (reported, does not block)."""
        if self.passed:
            return "pass"
        return "fail" if self.severity == "error" else "warn"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True)
class CheckReport:
    table: str
    snapshot_id: int | None  # the audited snapshot
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def blocking(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    @property
    def passed(self) -> bool:
        return not self.blocking

    def summary(self) -> dict[str, Any]:
        """Small enough for XCom: counts and the names of the checks that did not pass."""
        return {
            "table": self.table,
            "passed": sum(r.passed for r in self.results),
            "failed": [r.name for r in self.blocking],
            "warned": [r.name for r in self.warnings],
            "results": [
                {"name": r.name, "status": r.status, "failing_rows": r.failing_rows, "observed": r.observed}
                for r in self.results
            ],
        }

    def assertions(self) -> list[dict[str, Any]]:
        """The checks as OpenLineage `DataQualityAssertionsDatasetFacet` assertions (`assertion`, `success`,
        `column`), the shape the lineage integration emits for the checked table."""
        return [
            {
                "assertion": r.kind,
                "success": r.passed,
                "name": r.name,
                "severity": r.severity,
                "expected": r.expected,
                "actual": r.observed,
                # OpenLineage's `column` names one schema field: a check of several columns has none
                **({"column": r.column} if r.column and "," not in r.column else {}),
            }
            for r in self.results
        ]

    def text(self, samples: bool = True) -> str:
        """A fixed-width table for task logs and error messages, then sample rows of each failed check."""
        rows = [
            (
                r.status.upper(),
                r.name,
                r.severity,
                "" if r.failing_rows is None else str(r.failing_rows),
                r.observed,
                r.expected,
            )
            for r in self.results
        ]
        header = ("STATUS", "CHECK", "SEVERITY", "FAILING", "OBSERVED", "EXPECTED")
        widths = [
            max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)
        ]
        lines = [f"checks on {self.table} (snapshot {self.snapshot_id}):"]
        lines += [
            "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]
        ]
        if samples:
            for result in self.results:
                if not result.passed and result.sample and result.sample["rows"]:
                    lines.append(f"  sample of {result.name}:")
                    lines += ["    " + line for line in _sample_lines(result.sample)]
        return "\n".join(lines)


class ChecksFailed(AkkoError):
    """Error checks failed: the audited snapshot was not published; the report says which and why."""

    def __init__(self, report: CheckReport, branch: str):
        self.report = report
        self.branch = branch
        names = ", ".join(r.name for r in report.blocking)
        super().__init__(
            f"{len(report.blocking)} check(s) failed on {report.table}: {names}. The table was not changed "
            f"(main untouched); the rejected data stays on branch '{branch}' for inspection "
            f"(akko tables {report.table}).\n{report.text()}"
        )


def _sample_lines(sample: dict[str, Any]) -> list[str]:
    columns = [str(c) for c in sample["columns"]]
    rows = [[str(v) for v in row] for row in sample["rows"]]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [columns, *rows]]
