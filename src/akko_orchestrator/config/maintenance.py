"""akko.yaml `maintenance:`: Iceberg table maintenance settings, project defaults overridden per namespace and per
table (`namespaces:`, `tables:`), each operation turned off with `false`.

Floors AKKO refuses to go below, whatever the settings (each refusal names the floor and why):
- `expire_snapshots.older_than` >= 1d: a retried task finds that its run already published by looking for a
  snapshot of its pipeline, step and run in `main`'s history (runtime/publish.py, lakehouse/wap.py); expiring that
  snapshot would make the retry write again. 1 day is AKKO's exactly-once window; `retain_last` >= 1.
- `remove_orphan_files.older_than` >= 1d: the files of a commit in flight (a long step writing Parquet, a Trino or
  Spark stage) are referenced by no snapshot until it commits; only files older than any write can be orphans.
- `audit_branches.retain` >= 1h: a younger audit branch may be a write still being checked.
- `check_results.retain` >= 1d: `akko checks` shows at least the last day.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
DURATION = r"^\d+(s|m|h|d|w)$"
SIZE = r"^\d+(B|KB|MB|GB)$"
TABLE = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"

EXACTLY_ONCE_WINDOW = dt.timedelta(days=1)
ORPHAN_FLOOR = dt.timedelta(days=1)
AUDIT_BRANCH_FLOOR = dt.timedelta(hours=1)
CHECK_RESULTS_FLOOR = dt.timedelta(days=1)

Duration = Annotated[str, Field(pattern=DURATION, description="A duration: `30m`, `12h`, `7d`, `2w`.")]
Size = Annotated[str, Field(pattern=SIZE, description="A size: `512KB`, `128MB`, `1GB`.")]


def duration(text: str) -> dt.timedelta:
    """'7d' -> 7 days."""
    match = re.fullmatch(r"(\d+)(s|m|h|d|w)", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 12h, 7d)")
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def size_bytes(text: str) -> int:
    """'128MB' -> 134217728."""
    match = re.fullmatch(r"(\d+)(B|KB|MB|GB)", text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (e.g. 128MB)")
    return int(match.group(1)) * _SIZES[match.group(2)]


def _at_least(value: str, floor: dt.timedelta, why: str) -> str:
    if duration(value) < floor:
        raise ValueError(
            f"{value} is below AKKO's floor of {_human(floor)}: {why} (use {_human(floor)} or more)"
        )
    return value


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpireSnapshots(_Model):
    """Snapshots of `main` older than `older_than` are expired, except the last `retain_last`; snapshots a branch
    or tag needs are always kept."""

    older_than: Duration = "7d"
    retain_last: int = Field(10, ge=1, description="Always keep this many of main's newest snapshots.")

    @field_validator("older_than")
    @classmethod
    def _floor(cls, value: str) -> str:
        return _at_least(
            value,
            EXACTLY_ONCE_WINDOW,
            "a retried task looks for its run's snapshot in main's history to write exactly once",
        )


class RemoveOrphanFiles(_Model):
    """Files under the table's location that no snapshot or metadata references, older than `older_than`."""

    older_than: Duration = "3d"

    @field_validator("older_than")
    @classmethod
    def _floor(cls, value: str) -> str:
        return _at_least(value, ORPHAN_FLOOR, "the files of a commit in flight are not referenced yet")


class Compact(_Model):
    """Data files smaller than `target_file_size` (of one partition) are rewritten into files of that size, when
    there are at least `min_input_files` of them."""

    target_file_size: Size = "128MB"
    min_input_files: int = Field(5, ge=2)


class CheckResultsRetention(_Model):
    """Rows of `akko.check_results` older than `retain` are deleted."""

    retain: Duration = "90d"

    @field_validator("retain")
    @classmethod
    def _floor(cls, value: str) -> str:
        return _at_least(value, CHECK_RESULTS_FLOOR, "`akko checks` shows at least the last day")


class AuditBranchRetention(_Model):
    """Audit branches (left by rejected quality gates) whose head is older than `retain` are removed."""

    retain: Duration = "7d"

    @field_validator("retain")
    @classmethod
    def _floor(cls, value: str) -> str:
        return _at_least(value, AUDIT_BRANCH_FLOOR, "a younger audit branch may be a write being checked")


_OPERATIONS: dict[str, type[_Model]] = {
    "expire_snapshots": ExpireSnapshots,
    "remove_orphan_files": RemoveOrphanFiles,
    "compact": Compact,
    "check_results": CheckResultsRetention,
    "audit_branches": AuditBranchRetention,
}


class MaintenanceOverride(_Model):
    """What a namespace or table changes from the project's defaults; a section given here replaces only the
    fields it names; `false` turns an operation off, `enabled: false` the whole table."""

    enabled: bool | None = None
    expire_snapshots: ExpireSnapshots | bool | None = None
    remove_orphan_files: RemoveOrphanFiles | bool | None = None
    compact: Compact | bool | None = None
    rewrite_manifests: bool | None = None
    check_results: CheckResultsRetention | bool | None = None
    audit_branches: AuditBranchRetention | bool | None = None


class TableMaintenance(_Model):
    """One table's resolved settings (defaults < namespace < table); None: the operation is off."""

    table: str
    enabled: bool = True
    expire_snapshots: ExpireSnapshots | None = ExpireSnapshots()
    remove_orphan_files: RemoveOrphanFiles | None = RemoveOrphanFiles()
    compact: Compact | None = Compact()
    rewrite_manifests: bool = True
    check_results: CheckResultsRetention | None = CheckResultsRetention()
    audit_branches: AuditBranchRetention | None = AuditBranchRetention()


class MaintenanceSettings(MaintenanceOverride):
    """akko.yaml `maintenance:`. Its presence adds AKKO's maintenance DAG `akko_maintenance` (`akko sync`)."""

    schedule: str = Field("@daily", description="When the maintenance DAG runs: an Airflow preset or cron.")
    namespaces: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], MaintenanceOverride] = Field(
        default_factory=dict
    )
    tables: dict[Annotated[str, Field(pattern=TABLE)], MaintenanceOverride] = Field(default_factory=dict)

    def for_table(self, table: str) -> TableMaintenance:
        namespace = table.split(".", 1)[0]
        layers = [self, self.namespaces.get(namespace), self.tables.get(table)]
        resolved: dict[str, Any] = {"table": table}
        for layer in layers:
            if layer is None:
                continue
            for name in MaintenanceOverride.model_fields:
                value = getattr(layer, name)
                if value is not None:  # unset at this layer: inherited
                    resolved[name] = _merge(name, resolved.get(name), value)
        return TableMaintenance.model_validate(resolved)


def _merge(name: str, current: Any, value: Any) -> Any:
    """A section overrides only the fields it names: `{retain_last: 3}` keeps the inherited `older_than`."""
    if name not in _OPERATIONS:
        return value
    if value is False:
        return None
    if value is True:
        return current if current is not None else _OPERATIONS[name]()
    base = current.model_dump() if isinstance(current, _Model) else {}
    return _OPERATIONS[name].model_validate({**base, **value.model_dump(exclude_unset=True)})
