"""Atomic Iceberg writes: modes, partitioning, schema evolution, and nothing changes when a write is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.errors import AkkoError, SchemaConflict
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.spec.models import Output


@pytest.fixture
def catalog(tmp_path: Path) -> SqlCatalog:
    return SqlCatalog("test", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=tmp_path.as_uri())


def rows(catalog: SqlCatalog, table: str, key: str = "id") -> list[dict]:
    return catalog.load_table(table).scan().to_arrow().sort_by(key).to_pylist()


def sales(ids: list[int], region: str = "EU", price: float = 1.0) -> pa.Table:
    return pa.table({"id": ids, "region": [region] * len(ids), "price": [price] * len(ids)})


def test_create_partitioned_and_record_properties(catalog: SqlCatalog) -> None:
    output = Output(table="demo.sales", mode="overwrite", partition_by=["region", "day(ts)", "bucket(4, id)"])
    data = pa.table(
        {"id": [1, 2], "region": ["EU", "US"], "ts": [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)]}
    )
    result = write_table(catalog, output, data, {"akko.run-id": "run-1"})
    table = catalog.load_table("demo.sales")
    assert result.created and result.rows == 2
    assert [f.name for f in table.spec().fields] == ["region", "ts_day", "id_bucket"]
    assert table.current_snapshot().summary["akko.run-id"] == "run-1"
    assert len(table.snapshots()) == 1  # creation and data are one commit


def test_append_overwrite_merge(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t", mode="append"), sales([1, 2]))
    write_table(catalog, Output(table="demo.t", mode="append"), sales([3]))
    assert [r["id"] for r in rows(catalog, "demo.t")] == [1, 2, 3]
    write_table(catalog, Output(table="demo.t", mode="merge", keys=["id"]), sales([3, 4], price=9.0))
    merged = rows(catalog, "demo.t")
    assert [(r["id"], r["price"]) for r in merged] == [(1, 1.0), (2, 1.0), (3, 9.0), (4, 9.0)]
    write_table(catalog, Output(table="demo.t", mode="overwrite"), sales([7]))
    assert [r["id"] for r in rows(catalog, "demo.t")] == [7]


def test_schema_evolution_adds_columns_and_promotes(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), pa.table({"id": pa.array([1], pa.int32())}))
    write_table(catalog, Output(table="demo.t"), pa.table({"id": pa.array([2], pa.int64()), "note": ["new"]}))
    schema = catalog.load_table("demo.t").schema()
    assert str(schema.find_field("id").field_type) == "long"
    assert schema.find_field("note") is not None
    assert rows(catalog, "demo.t") == [{"id": 1, "note": None}, {"id": 2, "note": "new"}]


def test_incompatible_type_change_refused_and_table_unchanged(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), sales([1]))
    before = catalog.load_table("demo.t").current_snapshot().snapshot_id
    with pytest.raises(SchemaConflict, match=r"demo\.t\.price is double in the table but string"):
        write_table(catalog, Output(table="demo.t"), pa.table({"id": [2], "price": ["cheap"]}))
    table = catalog.load_table("demo.t")
    assert table.current_snapshot().snapshot_id == before
    assert str(table.schema().find_field("price").field_type) == "double"


def test_merge_with_duplicate_keys_refused(catalog: SqlCatalog) -> None:
    write_table(catalog, Output(table="demo.t"), sales([1]))
    with pytest.raises(AkkoError, match="duplicate keys"):
        write_table(catalog, Output(table="demo.t", mode="merge", keys=["id"]), sales([2, 2]))
    assert [r["id"] for r in rows(catalog, "demo.t")] == [1]


def test_missing_partition_column_creates_nothing(catalog: SqlCatalog) -> None:
    with pytest.raises(AkkoError, match="partition column 'region'"):
        write_table(catalog, Output(table="demo.p", partition_by=["region"]), pa.table({"id": [1]}))
    assert not catalog.table_exists("demo.p")


def test_unsupported_arrow_types_are_normalized(catalog: SqlCatalog) -> None:
    data = pa.table(
        {
            "id": pa.array([1], pa.uint32()),
            "ts": pa.array([dt.datetime(2026, 1, 1)], pa.timestamp("ns")),
            "nothing": pa.nulls(1),
        }
    )
    write_table(catalog, Output(table="demo.n"), data)
    schema = catalog.load_table("demo.n").schema()
    assert [str(f.field_type) for f in schema.fields] == ["long", "timestamp", "string"]
