"""Write a Spark step's DataFrame to its Iceberg table natively, through Spark's Iceberg catalog.

The data never leaves Spark (unlike `writer.py`, which commits Arrow with pyiceberg). Each write is one Iceberg
commit: CREATE TABLE AS SELECT (atomic in Iceberg's SparkCatalog), append, overwrite-everything by the filter
`true`, or MERGE INTO. Every snapshot records the step's run identity in its summary: append and overwrite by
`snapshot-property.*` write options; Spark SQL's MERGE INTO has no options, so it gets them from the session's
`spark.sql.iceberg.snapshot-property.*` settings (Iceberg 1.12, seen here). New columns are added by
`ALTER TABLE ... ADD COLUMN` (a schema-only commit) before the write; Iceberg's `write.spark.accept-any-schema` +
`mergeSchema` route is avoided because that table property breaks MERGE INTO's column resolution (Spark 4.1 +
Iceberg 1.12: "cannot resolve t.id", seen here).

Write-audit-publish (`spark_write_branch`): the rows go to the step's audit branch through Iceberg's branch
identifier `ns.table.branch_<name>` (writeTo append/overwrite and MERGE INTO accept it), after pyiceberg cut the
branch at `main`'s head (lakehouse/wap.py); `main` does not move. The `spark.wap.branch` session setting is not
used: without the `write.wap.enabled` table property it is ignored and the write lands on `main` (seen here).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.writer import WriteResult
from akko_orchestrator.spec.models import Output
from akko_orchestrator.sql.build import column, identifier, literal, star

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructField, StructType
    from sqlglot import exp

_TRANSFORM = re.compile(r"^(year|month|day|hour)\((\w+)\)$|^(bucket|truncate)\((\d+),\s*(\w+)\)$")
TABLE_PROPERTIES = {"format-version": "2"}


def spark_write(
    spark: SparkSession,
    df: DataFrame,
    output: Output,
    properties: dict[str, str],
    existing_columns: list[str] | None,
) -> dict[str, Any]:
    """Write `df` to `output.table`, whose current columns the caller read from the catalog (None: no table yet;
    asking Spark instead costs a round trip per question, ~0.1-0.2 s of a step's fixed cost)."""
    name = output.table
    schema = df.schema  # one analysis round trip; columns and types both come from it
    _check_columns(output, schema.names)
    options = _options(properties)
    if existing_columns is None:
        spark.sql(create_namespace_sql(name))
        _create(spark, df, output, options)
        return {"created": True}
    _add_columns(spark, name, schema, existing_columns)
    _write_rows(spark, df, output, tuple(name.split(".", 1)), options)
    return {"created": False}


def spark_write_branch(
    spark: SparkSession,
    catalog: Catalog,
    df: DataFrame,
    output: Output,
    properties: dict[str, str],
    existing_columns: list[str] | None,
    branch: str,
) -> WriteResult:
    """Write `df` to the audit `branch` of `output.table` only (write-audit-publish): create the table empty if
    it is missing, add new columns, (re)cut the branch at `main`'s head, write the rows to the branch, and check
    with pyiceberg that the branch moved and `main` did not. A merge whose snapshot lacks the run identity (a
    Spark server whose Iceberg ignores the session's snapshot properties) gets an empty snapshot carrying it on
    top (`wap.stamp`)."""
    from akko_orchestrator.lakehouse.wap import identity_matches, prepare_branch, stamp

    name = output.table
    schema = df.schema
    _check_columns(output, schema.names)
    created = False
    if existing_columns is None:
        spark.sql(create_namespace_sql(name))
        # No run id on the empty table's snapshot: it must never pass for this run's publish (exactly-once).
        marker = {k: v for k, v in properties.items() if k != "akko.run-id"}
        created = _create(spark, df, output, _options({**marker, "akko.operation": "create"}), empty=True)
        existing_columns = schema.names if created else catalog.load_table(name).schema().column_names
    _add_columns(spark, name, schema, existing_columns)
    base = prepare_branch(catalog, name, branch, properties)
    _write_rows(spark, df, output, (*name.split(".", 1), f"branch_{branch}"), _options(properties))
    table = catalog.load_table(name)
    head = table.snapshot_by_name(branch)
    main = table.current_snapshot()
    if (
        head is None
        or head.snapshot_id == base
        or (main is not None and main.snapshot_id == head.snapshot_id)
    ):
        raise AkkoError(
            f"{name}: Spark's write did not land on branch {branch} alone (branch head "
            f"{head.snapshot_id if head else None}, main {main.snapshot_id if main else None}, cut at {base}); "
            "main may have changed"
        )
    summary = head.summary.additional_properties if head.summary else {}
    rows = int(summary.get("added-records", 0))  # the data snapshot's, before any stamp on top of it
    head_id = head.snapshot_id
    if output.mode == "merge" and not identity_matches(head, properties):
        stamp(catalog, name, branch, properties)
        stamped = catalog.load_table(name).snapshot_by_name(branch)
        head_id = stamped.snapshot_id if stamped is not None else head_id
    return WriteResult(name, output.mode, rows, head_id, created, branch, base)


def _options(properties: dict[str, str]) -> dict[str, str]:
    """Iceberg's Spark write options that put `properties` into the new snapshot's summary."""
    return {f"snapshot-property.{key}": value for key, value in properties.items()}


def _add_columns(spark: SparkSession, name: str, schema: StructType, existing_columns: list[str]) -> None:
    for field in schema.fields:
        if field.name not in existing_columns:
            spark.sql(add_column_sql(name, field))


def _write_rows(
    spark: SparkSession, df: DataFrame, output: Output, target: tuple[str, ...], options: dict[str, str]
) -> None:
    """One commit of `df` to `target`: the table's (namespace, table), or its branch (namespace, table,
    `branch_<name>`), which Iceberg's Spark catalog reads as `ns.table.branch_<name>`."""
    from pyspark.sql import functions as F

    if output.mode == "append":
        df.writeTo(".".join(target)).options(**options).append()
    elif output.mode == "overwrite":
        df.writeTo(".".join(target)).options(**options).overwrite(F.lit(True))
    else:
        _merge(spark, df, output, target, options)


def _create(
    spark: SparkSession, df: DataFrame, output: Output, options: dict[str, str], empty: bool = False
) -> bool:
    """Create the table with `df`'s rows (or none: `empty`). False if another writer created it first (only
    looked for with `empty`: the rows then go to the existing table)."""
    transforms = [_partition_column(field) for field in output.partition_by]
    try:
        if any(t is None for t in transforms):
            # PySpark has no truncate() partition function: create the table by DDL, then write the rows.
            spark.sql(create_table_sql(output, _temp_view(df)))
            if not empty:
                df.writeTo(output.table).options(**options).append()
            return True
        writer = (df.limit(0) if empty else df).writeTo(output.table).using("iceberg").options(**options)
        for key, value in TABLE_PROPERTIES.items():
            writer = writer.tableProperty(key, value)
        if transforms:
            writer = writer.partitionedBy(*transforms)
        writer.create()
        return True
    except Exception as exc:
        if empty and _condition(exc) == "TABLE_OR_VIEW_ALREADY_EXISTS":
            return False
        raise


def _condition(exc: Exception) -> str | None:
    """Spark's error condition (e.g. TABLE_OR_VIEW_ALREADY_EXISTS), None for other exceptions."""
    get = getattr(exc, "getCondition", None)
    try:
        return get() if callable(get) else None
    except Exception:  # a PySpark exception raised without a condition
        return None


def _merge(
    spark: SparkSession, df: DataFrame, output: Output, target: tuple[str, ...], options: dict[str, str]
) -> None:
    view = _temp_view(df)
    # Not unset afterwards (a round trip each): the session is this step's own, stopped after it, and a later
    # write's own values replace these (write options win over session settings).
    for key, value in options.items():
        spark.conf.set(f"spark.sql.iceberg.{key}", value)
    spark.sql(merge_sql(target, view, output.keys))


def _temp_view(df: DataFrame) -> str:
    view = f"akko_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(view)
    return view


def _partition_column(field: str) -> Any:
    """A DataFrameWriterV2 partition expression, or None for `truncate` (only expressible in SQL)."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import partitioning

    match = _TRANSFORM.match(field)
    if match is None:
        return F.col(field)
    if match.group(1):
        return getattr(partitioning, f"{match.group(1)}s")(F.col(match.group(2)))
    if match.group(3) == "bucket":
        return partitioning.bucket(int(match.group(4)), F.col(match.group(5)))
    return None


# -- Spark SQL statements, as sqlglot trees in Spark's dialect ---------------------------------------------------


def create_namespace_sql(table_name: str) -> str:
    """`CREATE NAMESPACE IF NOT EXISTS `ns`` for the namespace of `ns.table`."""
    from sqlglot import exp

    namespace = table_name.split(".", 1)[0]
    return _spark_sql(exp.Create(this=exp.Table(this=identifier(namespace)), kind="NAMESPACE", exists=True))


def add_column_sql(table_name: str, field: StructField) -> str:
    """`ALTER TABLE `ns`.`table` ADD COLUMN `name` <type>`, the type built from Spark's own (nested field names
    quoted like the column's)."""
    from sqlglot import exp

    added = exp.ColumnDef(this=identifier(field.name), kind=spark_type(field.dataType))
    return _spark_sql(exp.Alter(this=_table(*table_name.split(".", 1)), kind="TABLE", actions=[added]))


def create_table_sql(output: Output, view: str) -> str:
    """`CREATE TABLE ... USING iceberg PARTITIONED BY (...) TBLPROPERTIES (...) AS SELECT * FROM view LIMIT 0`:
    the table `output` describes, empty, with `view`'s columns."""
    from sqlglot import exp

    properties = [
        exp.FileFormatProperty(this=exp.var("iceberg")),
        exp.PartitionedByProperty(this=exp.Schema(expressions=[_transform(f) for f in output.partition_by])),
        *[exp.Property(this=literal(k), value=literal(v)) for k, v in TABLE_PROPERTIES.items()],
    ]
    rows = (
        exp.Select(expressions=[star()]).from_(exp.Table(this=identifier(view)), copy=False).limit(literal(0))
    )
    create = exp.Create(
        this=_table(*output.table.split(".", 1)),
        kind="TABLE",
        properties=exp.Properties(expressions=properties),
        expression=rows,
    )
    return _spark_sql(create)


def merge_sql(target: tuple[str, ...], view: str, keys: list[str]) -> str:
    """`MERGE INTO <target> t USING view s ON t.`k` = s.`k` AND ... WHEN MATCHED THEN UPDATE SET * WHEN NOT
    MATCHED THEN INSERT *`."""
    from sqlglot import exp

    on = [exp.EQ(this=column(key, "t"), expression=column(key, "s")) for key in keys]
    whens = exp.Whens(
        expressions=[
            exp.When(matched=True, then=exp.Update(expressions=[exp.Star()])),
            exp.When(matched=False, then=exp.Insert(this=exp.Star())),
        ]
    )
    source = exp.Table(this=identifier(view), alias=exp.TableAlias(this=identifier("s")))
    merge = exp.Merge(
        this=_table(*target, alias="t"),
        using=source,
        on=on[0] if len(on) == 1 else exp.and_(*on, copy=False),
        whens=whens,
    )
    return _spark_sql(merge)


def spark_type(data_type: DataType) -> exp.DataType:
    """Spark's type as a sqlglot type: structs, arrays and maps built field by field (a struct field's name is
    a quoted identifier, never pasted into a type string); atomic types from their Spark name."""
    from pyspark.sql import types as T
    from sqlglot import exp

    if isinstance(data_type, T.StructType):
        fields = [
            exp.ColumnDef(this=identifier(f.name), kind=spark_type(f.dataType)) for f in data_type.fields
        ]
        return exp.DataType(this=exp.DataType.Type.STRUCT, expressions=fields, nested=True)
    if isinstance(data_type, T.ArrayType):
        element = spark_type(data_type.elementType)
        return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[element], nested=True)
    if isinstance(data_type, T.MapType):
        pair = [spark_type(data_type.keyType), spark_type(data_type.valueType)]
        return exp.DataType(this=exp.DataType.Type.MAP, expressions=pair, nested=True)
    return exp.DataType.build(data_type.simpleString(), dialect="spark")


def _table(*parts: str, alias: str | None = None) -> exp.Table:
    """(namespace, table) or (namespace, table, branch_x), each part quoted."""
    from sqlglot import exp

    names = [identifier(part) for part in parts]
    table = exp.Table(this=names[-1], db=names[-2] if len(names) > 1 else None)
    if len(names) > 2:
        table.set("catalog", names[-3])
    if alias:
        table.set("alias", exp.TableAlias(this=identifier(alias)))
    return table


def _transform(field: str) -> exp.Expression:
    """A partition field of the spec as Spark DDL: `col`, `years(col)`..., `bucket(n, col)`, `truncate(n, col)`."""
    from sqlglot import exp

    match = _TRANSFORM.match(field)
    if match is None:
        return identifier(field)
    if match.group(1):
        return exp.Anonymous(this=f"{match.group(1)}s", expressions=[column(match.group(2))])
    width = literal(int(match.group(4)))
    return exp.Anonymous(this=match.group(3), expressions=[width, column(match.group(5))])


def _spark_sql(tree: exp.Expression) -> str:
    """Spark SQL text of a tree; function names as written (partition transforms `days`, `bucket`...)."""
    return tree.sql(dialect="spark", normalize_functions=False)


def _check_columns(output: Output, columns: list[str]) -> None:
    needed = [k for k in output.keys] + [
        (m.group(2) or m.group(5)) if (m := _TRANSFORM.match(f)) else f for f in output.partition_by
    ]
    missing = sorted({c for c in needed if c not in columns})
    if missing:
        raise AkkoError(
            f"{output.table}: column(s) {', '.join(missing)} (keys/partitioning) not in the DataFrame"
        )


def result_of(catalog: Any, output: Output, created: bool) -> WriteResult:
    """The committed snapshot as pyiceberg sees it in the shared catalog (rows added by this commit)."""
    table = catalog.load_table(output.table)
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    rows = int(summary.get("added-records", 0))
    return WriteResult(output.table, output.mode, rows, snapshot.snapshot_id if snapshot else None, created)
