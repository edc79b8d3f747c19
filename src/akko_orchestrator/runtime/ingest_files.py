"""File ingest: the files a step reads (each checked by config/paths.py: listed, then again on the real path it
opens), each read strictly (lakehouse/file_read.py), then one write of the table and, with `on_bad_rows:
quarantine`, of the rows set aside to `<table>_rejects` in the same namespace.

Rows read always reconcile: every row a file holds is written, set aside, or replaced by a later file's row of the
same key (a fanned-out merge), or the step fails before anything is written. The step's result (XCom, `akko run`)
says how many rows were read, written and set aside."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from akko_orchestrator.config.paths import PathRule
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.arrow_io import keep_last_per_key
from akko_orchestrator.lakehouse.file_read import FileRead, read_file
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.runtime.context import StepContext, log
from akko_orchestrator.runtime.publish import write_arrow
from akko_orchestrator.spec.models import IngestStep, Output

REJECTS_SUFFIX = "_rejects"
REJECTS_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line", pa.int64()),
        ("column_name", pa.string()),
        ("error", pa.string()),
        ("record", pa.string()),
        ("run_id", pa.string()),
    ]
)


def rejects_table(table: str) -> str:
    """Where an ingest into `table` sets bad rows aside (the same namespace: the team's)."""
    return table + REJECTS_SUFFIX


def list_files(ctx: StepContext, step: IngestStep) -> list[str]:
    """The files the step reads, sorted; each inside what the spec may read (config/paths.py), checked by its
    real path here and again before it is read (a spec or a symlink may have changed since validation)."""
    rule = PathRule.of(ctx.project, ctx.team)
    rule.enforce(step.id, str(step.source.files))  # before listing: a folder outside is not even listed
    files = ctx.object_store.glob(str(step.source.files))
    rule.enforce(step.id, str(step.source.files), files)
    if not files:
        raise AkkoError(
            f"no file matches {step.source.files!r} (looked in {ctx.object_store.resolve(str(step.source.files))})"
        )
    log.info("%s: %d file(s) match %s", step.id, len(files), step.source.files)
    ctx.lineage.files.extend(files)
    return files


def load_file(ctx: StepContext, step: IngestStep, path: str) -> FileRead:
    """One file, read from the real path the rule just checked (not the name it was listed under)."""
    source = step.source
    checked = PathRule.of(ctx.project, ctx.team).enforce_file(step.id, str(source.files), path)
    try:
        with ctx.object_store.local_file(checked) as local:
            read = read_file(local, str(source.file_format()), path, source.on_bad_rows, source.encoding)
    except FileNotFoundError:
        raise AkkoError(f"file not found: {path}") from None
    for warning in read.warnings:
        log.warning("%s: %s", step.id, warning)
    if read.rejects:
        first = read.rejects[0]
        where = f"line {first.line}" if first.line is not None else "the first"
        log.warning(
            "%s: %s: %d bad row(s) set aside, %s: %s", step.id, path, len(read.rejects), where, first.error
        )
    return read


def rejected_rows(ctx: StepContext, read: FileRead) -> pa.Table:
    rows = [
        {
            "source_file": read.name,
            "line": r.line,
            "column_name": r.column,
            "error": r.error,
            "record": r.record,
        }
        for r in read.rejects
    ]
    return pa.Table.from_pylist([{**row, "run_id": ctx.run_id} for row in rows], schema=REJECTS_SCHEMA)


@dataclass
class Counts:
    """Rows of the files (counted apart from their parser), set aside, and warnings, over every file."""

    files: int = 0
    read: int = 0
    rejected: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, read: int, rejected: int, warnings: list[str]) -> None:
        self.files += 1
        self.read += read
        self.rejected += rejected
        self.warnings.extend(warnings)


def ingest_files(ctx: StepContext, step: IngestStep) -> WriteResult:
    """A non fanned-out file ingest: every file read, then one write."""
    reads = [load_file(ctx, step, f) for f in list_files(ctx, step)]
    counts = Counts()
    for read in reads:
        counts.add(read.records, len(read.rejects), read.warnings)
    data = pa.concat_tables([r.table for r in reads], promote_options="permissive")
    rejects = pa.concat_tables([rejected_rows(ctx, r) for r in reads])
    return write_all(ctx, step, data, counts, rejects)


def stage_file(ctx: StepContext, step: IngestStep, path: str) -> dict[str, Any]:
    """Fan-out half 1: parse one file into a staged Parquet object, its rejects into another (no table
    changes). Returns what the commit needs to reconcile (XCom: small, JSON)."""
    import pyarrow.parquet as pq

    read = load_file(ctx, step, path)
    staged = {"file": path, "rows_read": read.records, "rows_rejected": len(read.rejects)}
    index = f"{max(ctx.map_index, 0):06d}"
    for name, table in (("staged", read.table), ("rejects", rejected_rows(ctx, read))):
        if name == "rejects" and not table.num_rows:
            continue
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        key = ctx.staging_key(f"{index}.{name}.parquet" if name == "rejects" else f"{index}.parquet")
        ctx.object_store.write_bytes(key, buffer.getvalue())
        staged[name] = key
    log.info("%s: staged %d rows from %s", step.id, read.table.num_rows, path)
    return {**staged, "warnings": read.warnings}


def commit_staged(ctx: StepContext, step: IngestStep, staged: list[Any]) -> WriteResult:
    """Fan-out half 2: every staged file goes to the table in one commit, so the step is all or nothing."""
    if not staged:
        raise AkkoError(f"{step.id}: nothing was staged")
    entries = sorted(
        (s if isinstance(s, dict) else {"staged": s} for s in staged), key=lambda s: str(s["staged"])
    )  # a bare key: staged by an earlier AKKO, before the counts
    counts, tables, rejects = Counts(), [], []
    for entry in entries:
        table = _read_staged(ctx, entry["staged"])
        read = int(entry.get("rows_read", table.num_rows))
        rejected = int(entry.get("rows_rejected", 0))
        if table.num_rows != read - rejected:
            raise AkkoError(
                f"{step.id}: {entry.get('file', entry['staged'])} gave {read - rejected} rows, but "
                f"{table.num_rows} were staged: nothing is written; run the step again"
            )
        counts.add(read, rejected, list(entry.get("warnings", [])))
        tables.append(table)
        if entry.get("rejects"):
            rejects.append(_read_staged(ctx, entry["rejects"]))
    data = pa.concat_tables(tables, promote_options="permissive")
    merged = keep_last_per_key(data, list(step.output.keys)) if step.output.mode == "merge" else data
    result = write_all(
        ctx, step, merged, counts, pa.concat_tables(rejects) if rejects else None, data.num_rows
    )
    ctx.object_store.delete(ctx.staging_key(""))
    return result


def _read_staged(ctx: StepContext, key: str) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(ctx.object_store.read_bytes(key)))


def write_all(
    ctx: StepContext,
    step: IngestStep,
    data: pa.Table,
    counts: Counts,
    rejects: pa.Table | None,
    before_merge: int | None = None,
) -> WriteResult:
    """Reconcile, write the table (checks, write-audit-publish: runtime/publish.py), then the rows set aside;
    the result carries the counts. `before_merge`: the rows before a merge kept the last of each key."""
    replaced = (before_merge if before_merge is not None else data.num_rows) - data.num_rows
    if counts.read != data.num_rows + replaced + counts.rejected:
        raise AkkoError(
            f"{step.id}: {counts.read} rows were read, but {data.num_rows} are to be written, {replaced} "
            f"replaced by a later file and {counts.rejected} set aside: nothing is written"
        )
    result = write_arrow(ctx, step.output, step.checks, data)
    _check_committed(ctx, step, result, data.num_rows)
    written_aside = None
    if rejects is not None and rejects.num_rows:
        aside = Output(table=rejects_table(step.output.table), mode="append")
        write_arrow(ctx, aside, [], rejects)
        written_aside = aside.table
    summary = {
        "files": counts.files,
        "rows_read": counts.read,
        "rows_written": result.rows,
        "rows_rejected": counts.rejected,
        **({"rows_replaced": replaced} if replaced else {}),
        **({"rejects_table": written_aside} if written_aside else {}),
        **({"warnings": counts.warnings} if counts.warnings else {}),
    }
    log.info(
        "%s: read %d rows from %d file(s), wrote %d to %s, set aside %d%s",
        step.id,
        counts.read,
        counts.files,
        result.rows,
        result.table,
        counts.rejected,
        f" in {written_aside}" if written_aside else "",
    )
    return dataclasses.replace(result, ingest=summary)


def _check_committed(ctx: StepContext, step: IngestStep, result: WriteResult, rows: int) -> None:
    """The snapshot an append or overwrite committed added exactly the rows handed to the writer."""
    if result.already_published or result.snapshot_id is None or result.mode == "merge":
        return
    snapshot = ctx.catalog.load_table(result.table).snapshot_by_id(result.snapshot_id)
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    added = int(summary.get("added-records", 0))
    if added != rows:
        raise AkkoError(
            f"{step.id}: snapshot {result.snapshot_id} of {result.table} added {added} rows, {rows} were "
            "written: the table holds a partial write; restore the previous snapshot (`akko tables`)"
        )
