"""The SQL AKKO's generators emit, now built as sqlglot trees (sql/build.py): the same statements the text-built
generators emitted before (identifiers now always quoted), and golden text for each statement kind.

`tests/fixtures/golden_sql/checks_text_built.json` holds what the text-built check compiler emitted for CHECKS
(aggregate, one statement per check, sample queries); each tree-built statement must be the same statement once
both are parsed and rendered with every identifier quoted. The one intended change: an `expression` check's
columns are now read from the checked table's alias (so no joined table's column can take their place).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from pyiceberg.catalog.sql import SqlCatalog

from akko_orchestrator.config.maintenance import Compact, TableMaintenance
from akko_orchestrator.dbt.trino_models import stage_insert_sql
from akko_orchestrator.maintenance.trino import statements
from akko_orchestrator.quality.checks import TARGET, compile_checks, one_query_per_check, sample_sql
from akko_orchestrator.spec.checks import AcceptedValues
from akko_orchestrator.spec.models import Check, Output
from akko_orchestrator.sql.build import literal, render
from akko_orchestrator.sql.parse import qualify

BEFORE = Path(__file__).resolve().parents[1] / "fixtures" / "golden_sql" / "checks_text_built.json"
CHECKS = [
    Check(not_null=["id", "region"]),
    Check(unique=["id"]),
    Check(unique=["id", "region"]),
    # every literal kind at once: a spec refuses mixed types (spec/checks.py), the compiler must still quote each
    Check.model_construct(
        accepted_values=AcceptedValues.model_construct(
            column="region",
            values=["EU", "it's", 3, 2.5, True, "2024-01-02", "2024-01-02 10:00:00"],
        )
    ),
    Check(range={"column": "amount", "min": -10, "max": 100.5}),
    Check(range={"column": "ordered_at", "min": dt.date(2024, 1, 1)}),
    Check(range={"column": "ordered_at", "max": dt.datetime(2024, 1, 1, 10, 30)}),
    Check(row_count={"min": 1}),
    Check(freshness={"column": "ordered_at", "max_age": "1d"}),
    Check(relationships={"column": "customer_id", "to": "demo.customers", "field": "id"}),
    Check(relationships={"column": "customer_id", "to": "demo.all_customers"}),
    Check(expression="amount > -100 AND region <> ''"),
    Check(sql="SELECT id, amount FROM demo.orders WHERE amount < 0;"),
]


def _same(sql: str, qualified: bool = False) -> str:
    tree = sqlglot.parse_one(sql, read="trino")
    if qualified:  # the expression check's columns, as the tree-built compiler reads them
        for coalesce in tree.find_all(sqlglot.exp.Coalesce):
            qualify(coalesce.this, TARGET)
    return tree.sql(dialect="trino", identify=True)


def test_check_statements_are_the_statements_the_text_built_compiler_emitted() -> None:
    before = json.loads(BEFORE.read_text(encoding="utf-8"))
    plan = compile_checks("demo.orders", CHECKS)
    after = {
        "aggregate": plan.aggregate_sql,
        "per_check": one_query_per_check(plan),
        "samples": [sample_sql(plan, c, 5) for c in plan.checks],
    }
    assert _same(after["aggregate"]) == _same(before["aggregate"], qualified=True)
    for old, new in zip(before["per_check"], after["per_check"], strict=True):
        assert _same(new) == _same(old, qualified=True)
    for old, new in zip(before["samples"], after["samples"], strict=True):
        assert (new is None) == (old is None)
        if new is not None:
            assert _same(new) == _same(old, qualified=True)


def test_check_statements_golden() -> None:
    plan = compile_checks("demo.orders", [CHECKS[2], CHECKS[9], CHECKS[11]])
    assert plan.aggregate_sql == (
        'SELECT COUNT(*) AS "total_rows", COUNT_IF(NOT "_akko_t"."id" IS NULL AND NOT "_akko_t"."region" IS NULL)'
        ' - COUNT(DISTINCT CASE WHEN NOT "_akko_t"."id" IS NULL AND NOT "_akko_t"."region" IS NULL THEN'
        ' ROW("_akko_t"."id", "_akko_t"."region") END) AS "c0_failing", COUNT_IF(NOT "_akko_t"."customer_id" IS'
        ' NULL AND "_akko_r1"."_akko_k" IS NULL) AS "c1_failing", COUNT_IF(NOT COALESCE(("_akko_t".amount > -100'
        ' AND "_akko_t".region <> \'\'), FALSE)) AS "c2_failing" FROM "demo"."orders" AS "_akko_t" LEFT JOIN'
        ' (SELECT DISTINCT "id" AS "_akko_k" FROM "demo"."customers") AS "_akko_r1" ON "_akko_t"."customer_id" ='
        ' "_akko_r1"."_akko_k"'
    )
    assert sample_sql(plan, plan.checks[0], 5) == (
        'SELECT "_akko_t"."id", "_akko_t"."region", COUNT(*) AS "occurrences" FROM "demo"."orders" AS "_akko_t"'
        ' WHERE NOT "_akko_t"."id" IS NULL AND NOT "_akko_t"."region" IS NULL GROUP BY "_akko_t"."id",'
        ' "_akko_t"."region" HAVING COUNT(*) > 1 ORDER BY "occurrences" DESC, "_akko_t"."id", "_akko_t"."region"'
        " LIMIT 5"
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("2024-01-02 10:00:00", "CAST('2024-01-02 10:00:00' AS TIMESTAMP(0))"),
        (dt.datetime(2024, 1, 2, 10, 0, 0, 123456), "CAST('2024-01-02 10:00:00.123456' AS TIMESTAMP(6))"),
        (
            dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
            "CAST('2024-01-02 00:00:00+00:00' AS TIMESTAMP(0) WITH TIME ZONE)",
        ),
    ],
)
def test_a_timestamp_literal_keeps_the_precision_trinos_typed_literal_has(
    value: object, rendered: str
) -> None:
    assert (
        render(literal(value)) == rendered
    )  # CAST(... AS TIMESTAMP) would be timestamp(3): microseconds lost
    text = value if isinstance(value, str) else value.isoformat(sep=" ")
    assert rendered == sqlglot.parse_one(f"TIMESTAMP '{text}'", read="trino").sql(dialect="trino")


def test_maintenance_statements_on_a_real_table(tmp_path: Path) -> None:
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=tmp_path.as_uri())
    catalog.create_namespace("demo")
    table = catalog.create_table("demo.orders", pa.schema([("id", pa.int64())]))
    for start in range(3):  # three small files in three manifests
        table.append(pa.table({"id": pa.array([start], pa.int64())}))
    settings = TableMaintenance(table="demo.orders", compact=Compact(min_input_files=2))
    found = statements(catalog.load_table("demo.orders"), settings, "lake")
    assert [p.sql for p in found] == [
        'ALTER TABLE "lake"."demo"."orders" EXECUTE OPTIMIZE(file_size_threshold => \'134217728B\')',
        'ALTER TABLE "lake"."demo"."orders" EXECUTE optimize_manifests',
        'ALTER TABLE "lake"."demo"."orders" EXECUTE EXPIRE_SNAPSHOTS(retention_threshold => \'604800s\')',
        'ALTER TABLE "lake"."demo"."orders" EXECUTE REMOVE_ORPHAN_FILES(retention_threshold => \'259200s\')',
    ]
    assert [p.call for p in found][1] == "optimize_manifests"  # what `akko maintain --dry-run` lists
    text_built = [  # what the text-built generator emitted: the same tokens (Trino reads names case-blind)
        'ALTER TABLE "lake"."demo"."orders" EXECUTE optimize(file_size_threshold => \'134217728B\')',
        'ALTER TABLE "lake"."demo"."orders" EXECUTE optimize_manifests',
        'ALTER TABLE "lake"."demo"."orders" EXECUTE expire_snapshots(retention_threshold => \'604800s\')',
        'ALTER TABLE "lake"."demo"."orders" EXECUTE remove_orphan_files(retention_threshold => \'259200s\')',
    ]
    for old, new in zip(text_built, found, strict=True):
        assert _tokens(new.sql) == _tokens(old)


def _tokens(sql: str) -> list[tuple[str, str]]:
    return [
        (t.token_type.name, t.text if t.token_type.name in ("STRING", "IDENTIFIER") else t.text.lower())
        for t in sqlglot.tokenize(sql, read="trino")
    ]


def test_spark_writer_statements_golden() -> None:
    from pyspark.sql import types as T

    from akko_orchestrator.lakehouse import spark_writer as w

    output = Output(table="demo.orders", partition_by=["day(ts)", "truncate(4, name)", "region"])
    assert w.create_namespace_sql("demo.orders") == "CREATE NAMESPACE IF NOT EXISTS `demo`"
    assert w.create_table_sql(output, "akko_1") == (
        "CREATE TABLE `demo`.`orders` USING ICEBERG PARTITIONED BY (days(`ts`), truncate(4, `name`), `region`)"
        " TBLPROPERTIES ('format-version'='2') AS SELECT * FROM `akko_1` LIMIT 0"
    )
    nested = T.StructField("new", T.StructType([T.StructField("a", T.DecimalType(10, 2))]))
    assert w.add_column_sql("demo.orders", nested) == (
        "ALTER TABLE `demo`.`orders` ADD COLUMN `new` STRUCT<`a`: DECIMAL(10, 2)>"
    )
    assert w.merge_sql(("demo", "orders", "branch_audit"), "akko_1", ["id", "day"]) == (
        "MERGE INTO `demo`.`orders`.`branch_audit` AS `t` USING `akko_1` AS `s` ON `t`.`id` = `s`.`id` AND"
        " `t`.`day` = `s`.`day` WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )


def test_trino_stage_insert_golden() -> None:
    assert stage_insert_sql(
        "demo.orders__akko_stage_1", ["id", "amount"], "SELECT 1 AS id, 2.5 AS amount;"
    ) == (
        'INSERT INTO "iceberg"."demo"."orders__akko_stage_1" ("id", "amount") SELECT "id", "amount" FROM'
        ' (SELECT 1 AS id, 2.5 AS amount) AS "akko_model"'
    )


def test_postgres_provisioning_golden() -> None:
    from akko_orchestrator.stack.postgres_databases import (
        OPERATIONAL_DB,
        role_and_database_sql,
        schema_statement,
    )

    assert role_and_database_sql(OPERATIONAL_DB, "pw") == (
        "SET \"log_min_error_statement\" = 'panic';\n"
        "SELECT FORMAT('CREATE ROLE %I LOGIN', 'akko') WHERE NOT EXISTS(SELECT 1 FROM \"pg_roles\" WHERE"
        " \"rolname\" = 'akko') \\gexec\n"
        "SELECT FORMAT('ALTER ROLE %I WITH LOGIN PASSWORD %L', 'akko', 'pw') \\gexec\n"
        "SELECT FORMAT('CREATE DATABASE %I OWNER %I', 'akko', 'akko') WHERE NOT EXISTS(SELECT 1 FROM"
        ' "pg_database" WHERE "datname" = \'akko\') \\gexec\n'
        "SELECT FORMAT('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', 'akko') \\gexec\n"
    )
    assert schema_statement("banking", "akko") == (
        "SELECT FORMAT('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', 'banking', 'akko') \\gexec"
    )
