"""What maintenance did (or would do) to one table: counts for the task log, the CLI and the table properties."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from akko_orchestrator.lakehouse.inspect import (  # what `akko tables` reads
    LAST_MAINTENANCE,
    LAST_MAINTENANCE_OPS,
)

__all__ = ["LAST_MAINTENANCE", "LAST_MAINTENANCE_OPS", "TableReport"]


@dataclass
class TableReport:
    table: str
    status: str = "done"  # done | dry-run | skipped | failed
    reason: str | None = None  # why skipped or failed
    engine: str = "pyiceberg"  # pyiceberg (local) or trino (cluster)
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    manifests_before: int = 0
    manifests_after: int = 0
    compacted: tuple[int, int] | None = None  # (input files, output files)
    expired: int = 0
    files_deleted: int = 0  # files only expired snapshots referenced
    orphans: int = 0
    branches_removed: list[str] = field(default_factory=list)
    check_rows_deleted: int = 0
    planned: list[str] = field(default_factory=list)  # with --dry-run: what would run

    def summary(self) -> str:
        """`expire 12, compact 200->2 files, manifests 3->1, orphans 5` (the `akko.last-maintenance-ops` text)."""
        if self.status in ("skipped", "failed"):
            return f"{self.status}: {self.reason}"
        if self.status == "dry-run":
            return "would run: " + (", ".join(self.planned) or "nothing")
        parts = []
        if self.compacted:
            parts.append(f"compact {self.compacted[0]}->{self.compacted[1]} files")
        if self.manifests_before != self.manifests_after:
            parts.append(f"manifests {self.manifests_before}->{self.manifests_after}")
        if self.expired:
            parts.append(f"expire {self.expired}")
        if self.orphans:
            parts.append(f"orphans {self.orphans}")
        if self.branches_removed:
            parts.append(f"audit branches {len(self.branches_removed)}")
        if self.check_rows_deleted:
            parts.append(f"check rows {self.check_rows_deleted}")
        return ", ".join(parts) or "nothing to do"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["compacted"] = list(self.compacted) if self.compacted else None  # JSON (XCom) has no tuples
        data["summary"] = self.summary()
        return data
