"""A dbt seed as Arrow, read as dbt reads seeds: agate's CSV parsing and type inference, then the seed's
`column_types`. The same on both profiles (AKKO, not the adapter, loads seeds), so a seed's table has the same
types on `local` and `cluster`: integral numbers are bigint, other numbers double, dates and timestamps as agate
reads them, the rest varchar; a `column_types` entry (a Trino type) wins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.dbt.graph import DbtNode
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import pyarrow as pa


def read_seed(folder: Path, node: DbtNode) -> pa.Table:
    import agate
    import pyarrow as pa
    from dbt_common.clients.agate_helper import from_csv

    declared = {column.lower(): kind for column, kind in node.seed_types}
    path = folder / node.file
    try:
        table = from_csv(str(path), text_columns=list(declared), delimiter=node.delimiter)
    except (OSError, ValueError) as exc:
        raise AkkoError(f"seed {node.name} ({node.file}): {exc}") from None
    columns = {}
    for index, (name, kind) in enumerate(zip(table.column_names, table.column_types, strict=True)):
        values = [row[index] for row in table.rows]
        declared_type = declared.get(name.lower())
        if declared_type is not None:
            columns[name] = _declared(values, declared_type, node)
        elif isinstance(kind, agate.Number):
            integral = all(v is None or v == v.to_integral_value() for v in values)
            columns[name] = pa.array(
                [None if v is None else (int(v) if integral else float(v)) for v in values]
            )
        elif isinstance(kind, agate.Text):
            columns[name] = pa.array(values, pa.string())
        else:
            columns[name] = pa.array(values)
    return pa.table(columns)


def _declared(values: list, trino_type: str, node: DbtNode) -> pa.Array:
    import pyarrow as pa

    from akko_orchestrator.engines.trino_types import arrow_type

    target = arrow_type(trino_type).arrow
    try:
        return pa.array([None if v in (None, "") else v for v in values], pa.string()).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise AkkoError(f"seed {node.name} ({node.file}): a value is not a {trino_type}: {exc}") from None
