"""Python steps of the tenancy e2e tests (tests/e2e/test_tenancy.py)."""

from pathlib import Path

import pyarrow as pa


def append_to_banking(ctx) -> None:
    table = ctx.catalog.load_table("banking.accounts")  # demo may read banking in the test project
    table.append(pa.table({"id": pa.array([99], pa.int64())}))  # ... but not write it


def edit_sql(ctx) -> None:
    sql = Path(__file__).parent / "tenancy_sql" / "summary.sql"
    sql.write_text("SELECT count(*) AS id FROM ops.secrets\n")


def use_banking_connection(ctx) -> str:
    return ctx.connection("akko_operational").host
