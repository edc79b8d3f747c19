"""The same Trino SQL on both profiles' engines: Trino (`cluster`) and DuckDB (`embedded`), over the same Iceberg
tables in `akko stack`'s shared catalog (written here by pyiceberg).

Every query runs on Trino, and either
- gives identical results on DuckDB: the same rows (doubles to 1e-9 relative), the same column types once
  normalized for Iceberg, or
- is refused for the embedded profile by `plan/sql_support.embedded_unsupported` (given the tables' Trino types),
  and then DuckDB indeed fails or answers differently: a refusal is never needed-less, and no query gives a wrong
  answer silently.

Then TrinoEngine's errors: an unreachable Trino names the endpoint, profile and connection and no secret; a SQL
error carries Trino's line and column; a missing table says so; wrong credentials (when the stack's Trino has
authentication) are an authentication error naming the user, without the secret.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.fixtures.stack_services import RunningStack  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

NS = "parity"
TABLES = [f"{NS}.orders", f"{NS}.customers", f"{NS}.order_updates", f"{NS}.ledger"]
PROJECT_YAML = """\
project: parity
lakehouse: akko
profile: embedded
profiles:
  embedded:
    engine: embedded
    catalog: {type: sql, uri: "${AKKO_CATALOG_URI}", warehouse: "${AKKO_WAREHOUSE}", password: {env: AKKO_CATALOG_PASSWORD}}
  cluster:
    engine: cluster
    catalog: {type: sql, uri: "${AKKO_CATALOG_URI}", warehouse: "${AKKO_WAREHOUSE}", password: {env: AKKO_CATALOG_PASSWORD}}
    object_store: {uri: objects}
    trino: {conn_id: akko_trino, catalog: iceberg}
    spark: {remote: "${AKKO_SPARK_REMOTE}"}
  unreachable:
    engine: cluster
    catalog: {type: sql, uri: "${AKKO_CATALOG_URI}", warehouse: "${AKKO_WAREHOUSE}", password: {env: AKKO_CATALOG_PASSWORD}}
    object_store: {uri: objects}
    trino: {conn_id: akko_trino_down, catalog: iceberg}
    spark: {remote: "${AKKO_SPARK_REMOTE}"}
  wrong-password:
    engine: cluster
    catalog: {type: sql, uri: "${AKKO_CATALOG_URI}", warehouse: "${AKKO_WAREHOUSE}", password: {env: AKKO_CATALOG_PASSWORD}}
    object_store: {uri: objects}
    trino: {conn_id: akko_trino_wrong, catalog: iceberg}
    spark: {remote: "${AKKO_SPARK_REMOTE}"}
"""


# ---------------------------------------------------------------------------------------------------------------
# The tables


def _decimal(text: str | None) -> decimal.Decimal | None:
    return None if text is None else decimal.Decimal(text)


def customers() -> pa.Table:
    countries = ["FR", "DE", None, "US", "fr", "ES"]
    rows = [
        {
            "id": i,
            "name": f"Customer {i:02d}" + (" Ünïcode ß" if i % 7 == 0 else ""),
            "country": countries[i % 6],
            "segment": ("retail", "corporate", "public")[i % 3],
            "signup_date": dt.date(2023, 1, 1) + dt.timedelta(days=17 * i),
            "credit_limit": _decimal(None if i % 9 == 0 else f"{i * 1234.5 % 10000:.2f}"),
            "email": None if i % 8 == 0 else f"user{i}@Example{i % 3}.com",
            "tags": None if i % 10 == 0 else [f"t{i % 4}", f"t{i % 5}"][: 1 + i % 2],
            "attributes": json.dumps(
                {"vip": i % 5 == 0, "score": i * 3 % 17, "address": {"city": f"City{i % 4}"}}
            ),
        }
        for i in range(1, 41)
    ]
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("country", pa.string()),
            ("segment", pa.string()),
            ("signup_date", pa.date32()),
            ("credit_limit", pa.decimal128(12, 2)),
            ("email", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("attributes", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema)


def orders() -> pa.Table:
    base = dt.datetime(2024, 1, 1, 8, 30, 0)
    rows = []
    for i in range(1, 301):
        at = base + dt.timedelta(hours=13 * i, seconds=i, microseconds=i * 11 if i % 10 else 0)
        rows.append(
            {
                "order_id": i,
                "customer_id": (i * 7) % 45 + 1,  # some customers do not exist
                "status": ("new", "shipped", "cancelled", "returned")[i % 4],
                "amount": _decimal(None if i % 23 == 0 else f"{(i * 37.13) % 997:.2f}"),
                "quantity": (i * 3) % 11 - 1,  # -1 .. 9
                "discount": None if i % 5 == 0 else (i % 7) / 8,
                "ordered_at": at,
                "shipped_at": None
                if i % 4 != 1
                else (base + dt.timedelta(hours=13 * i + 30)).replace(tzinfo=dt.UTC),
                "order_date": at.date(),
                "note": None
                if i % 6 == 0
                else ("  Gift wrap  " if i % 6 == 1 else f"Order-{i}/ref {i % 13:03d}"),
                "payload": json.dumps(
                    {
                        "channel": ("web", "store", "app")[i % 3],
                        "items": [{"sku": f"S{i % 5}", "qty": i % 4 + 1}],
                        "coupon": None if i % 2 else f"C{i}",
                    }
                ),
            }
        )
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("status", pa.string()),
            ("amount", pa.decimal128(12, 2)),
            ("quantity", pa.int32()),
            ("discount", pa.float64()),
            ("ordered_at", pa.timestamp("us")),
            ("shipped_at", pa.timestamp("us", tz="UTC")),
            ("order_date", pa.date32()),
            ("note", pa.string()),
            ("payload", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema)


def order_updates() -> pa.Table:
    rows = [
        {
            "order_id": i,
            "status": "shipped" if i % 2 else "cancelled",
            "amount": _decimal(f"{i / 4:.2f}"),
            "updated_at": dt.datetime(2024, 7, 1) + dt.timedelta(minutes=i),
            "is_deleted": i % 5 == 0,
        }
        for i in range(290, 311)
    ]
    rows.append(
        {
            "order_id": 300,
            "status": "returned",
            "amount": _decimal("1.00"),
            "updated_at": dt.datetime(2024, 7, 2),
            "is_deleted": False,
        }
    )
    schema = pa.schema(
        [
            ("order_id", pa.int64()),
            ("status", pa.string()),
            ("amount", pa.decimal128(12, 2)),
            ("updated_at", pa.timestamp("us")),
            ("is_deleted", pa.bool_()),
        ]
    )
    return pa.Table.from_pylist(rows, schema)


def ledger() -> pa.Table:
    """Amounts whose averages and quotients fall exactly half-way between two decimals: Trino rounds them half up
    (away from zero), a double would not."""
    amounts = [
        "0.05",
        "0.00",
        "-0.05",
        "0.00",
        "1.25",
        "1.26",
        "-1.25",
        "-1.26",
        "0.01",
        "0.02",
        "999999.99",
        "-0.01",
    ]
    rates = ["0.1250", "0.0050", "-0.0050", "1.0000", "0.3333", "2.5000"]
    rows = [
        {
            "entry": i,
            "account": f"A{i % 4}",
            "amount": _decimal(amount),
            "rate": _decimal(rates[i % len(rates)]),
            "units": i % 5 - 2,
        }
        for i, amount in enumerate(amounts)
    ]
    schema = pa.schema(
        [
            ("entry", pa.int64()),
            ("account", pa.string()),
            ("amount", pa.decimal128(12, 2)),
            ("rate", pa.decimal128(10, 4)),
            ("units", pa.int32()),
        ]
    )
    return pa.Table.from_pylist(rows, schema)


# ---------------------------------------------------------------------------------------------------------------
# The queries: (Trino SQL, whether its rows come in a defined order)


Q: dict[str, tuple[str, bool]] = {
    # joins, CTEs, subqueries, set operations
    "join_aggregate": (
        """SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue, max(o.amount) AS biggest
           FROM parity.orders o JOIN parity.customers c ON c.id = o.customer_id
           GROUP BY c.country ORDER BY c.country NULLS LAST""",
        True,
    ),
    "left_anti_join": (
        """SELECT o.order_id, o.customer_id, c.name FROM parity.orders o
           LEFT JOIN parity.customers c ON c.id = o.customer_id WHERE c.id IS NULL""",
        False,
    ),
    "cte_having_catalog_prefix": (
        """WITH big AS (SELECT customer_id, sum(amount) AS total, count(*) AS n FROM parity.orders
                        GROUP BY customer_id HAVING sum(amount) > 2500)
           SELECT c.name, b.total, b.n FROM big b JOIN iceberg.parity.customers c ON c.id = b.customer_id
           ORDER BY b.total DESC, c.name""",
        True,
    ),
    "subqueries": (
        """SELECT id, name FROM parity.customers c
           WHERE EXISTS (SELECT 1 FROM parity.orders o WHERE o.customer_id = c.id AND o.status = 'returned')
             AND id NOT IN (SELECT customer_id FROM parity.orders WHERE quantity < 0)""",
        False,
    ),
    "set_operations": (
        """SELECT customer_id FROM parity.orders WHERE status = 'new'
           INTERSECT SELECT id FROM parity.customers WHERE segment = 'retail'
           UNION SELECT customer_id FROM parity.orders WHERE amount > 990
           EXCEPT SELECT 3 ORDER BY 1""",
        True,
    ),
    # window functions
    "window_running": (
        """SELECT order_id, customer_id, amount,
                  row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS rn,
                  sum(amount) OVER (PARTITION BY customer_id ORDER BY ordered_at
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
                  lag(amount) OVER (PARTITION BY customer_id ORDER BY ordered_at) AS previous,
                  lead(order_id, 2, -1) OVER (PARTITION BY customer_id ORDER BY ordered_at) AS after_next
           FROM parity.orders ORDER BY customer_id, rn""",
        True,
    ),
    "window_ranks": (
        """SELECT customer_id, order_id, quantity, rank() OVER w AS rnk, dense_rank() OVER w AS drnk,
                  ntile(3) OVER w AS tile, first_value(order_id) OVER w AS first_order, percent_rank() OVER w AS prank,
                  cume_dist() OVER w AS cdist, avg(quantity) OVER (PARTITION BY customer_id) AS avg_qty,
                  avg(amount) OVER (PARTITION BY customer_id) AS avg_amount
           FROM parity.orders WINDOW w AS (PARTITION BY customer_id ORDER BY quantity DESC, order_id)""",
        False,
    ),
    # date and time
    "dates": (
        """SELECT order_id, year(ordered_at) AS y, month(ordered_at) AS m, day(ordered_at) AS d,
                  day_of_week(ordered_at) AS dow, extract(dow FROM order_date) AS dow2, day_of_year(order_date) AS doy,
                  quarter(order_date) AS q, hour(ordered_at) AS h, date_trunc('month', ordered_at) AS month_start,
                  date_trunc('week', order_date) AS week_start, date_add('day', 7, order_date) AS next_week,
                  date_diff('day', order_date, DATE '2024-12-31') AS days_left, extract(minute FROM ordered_at) AS mi,
                  last_day_of_month(order_date) AS eom, week_of_year(order_date) AS w, year_of_week(order_date) AS yow
           FROM parity.orders""",
        False,
    ),
    "date_diff_whole_units": (
        """SELECT order_id, date_diff('day', ordered_at, TIMESTAMP '2024-06-30 12:00:00') AS days,
                  date_diff('hour', ordered_at, TIMESTAMP '2024-06-30 12:00:00') AS hours,
                  date_diff('month', ordered_at, TIMESTAMP '2024-12-31 00:00:00') AS months
           FROM parity.orders""",
        False,
    ),
    "date_format_and_parse": (
        """SELECT order_id, date_format(ordered_at, '%Y-%m-%d %H:%i:%s') AS f,
                  date_parse(date_format(ordered_at, '%d/%m/%Y %H:%i'), '%d/%m/%Y %H:%i') AS parsed,
                  from_iso8601_date('2024-03-05') AS iso, to_unixtime(ordered_at) AS epoch
           FROM parity.orders""",
        False,
    ),
    "intervals": (
        """SELECT order_id, ordered_at + INTERVAL '1' HOUR AS later, ordered_at - INTERVAL '2' DAY AS earlier,
                  order_date + INTERVAL '1' MONTH AS next_month, order_date - INTERVAL '1' DAY AS day_before
           FROM parity.orders""",
        False,
    ),
    "timestamp_with_time_zone": (
        """SELECT order_id, shipped_at, to_unixtime(shipped_at) AS epoch, CAST(shipped_at AS date) AS shipped_day,
                  date_trunc('day', shipped_at) AS day_utc, shipped_at > TIMESTAMP '2024-03-01 00:00:00 UTC' AS late
           FROM parity.orders WHERE shipped_at IS NOT NULL""",
        False,
    ),
    # strings and regular expressions
    "strings": (
        """SELECT id, upper(name) AS up, lower(name) AS low, length(name) AS len, substr(name, 3, 5) AS sub,
                  strpos(name, 'er') AS pos, replace(name, 'Customer', 'C') AS rep, concat(name, '-', segment) AS cat,
                  name || '/' || coalesce(country, '?') AS piped, concat(country, '!') AS null_concat,
                  lpad(CAST(id AS varchar), 5, '0') AS padded, split_part(coalesce(email, 'x@y'), '@', 2) AS domain,
                  split_part(name, ' ', 3) AS third_word, reverse(segment) AS rev, starts_with(name, 'Customer 0') AS sw,
                  trim('  ' || segment || '  ') AS trimmed, CAST(name AS varchar(8)) AS short,
                  format('%s-%03d', segment, id) AS code
           FROM parity.customers""",
        False,
    ),
    "regexp": (
        r"""SELECT order_id, regexp_like(note, '^Order-\d+') AS is_order, regexp_extract(note, '(\d+)/ref') AS first,
                  regexp_extract(note, 'ref (\d+)', 1) AS ref, regexp_replace(note, '\d', '#') AS masked,
                  regexp_replace(note, '(\w+)-(\d+)', '$2:$1') AS swapped, regexp_extract_all(note, '\d') AS digits,
                  regexp_count(note, '\d') AS n_digits
           FROM parity.orders""",
        False,
    ),
    "like_and_compare": (
        """SELECT order_id FROM parity.orders WHERE note LIKE 'Order-1%' AND note NOT LIKE '%ref 00_'
           AND lower(note) > 'order-15' ORDER BY order_id""",
        True,
    ),
    # casts
    "casts": (
        """SELECT order_id, CAST(amount AS double) AS amount_d, CAST(quantity AS varchar) AS qty_s,
                  CAST('2024-01-05' AS date) AS d, CAST(order_id AS decimal(10, 2)) AS id_dec,
                  try_cast(note AS integer) AS note_int, CAST(discount AS decimal(5, 3)) AS disc,
                  CAST(amount AS bigint) AS amount_int, CAST(quantity AS double) / 4 AS qd,
                  CAST(order_date AS timestamp) AS ts, CAST(discount * 10 AS integer) AS rounded,
                  CAST(ordered_at AS varchar) AS ts_text, CAST(amount AS varchar) AS amount_text,
                  DECIMAL '1.50' AS price, CAST('12.5' AS decimal) AS whole
           FROM parity.orders""",
        False,
    ),
    # aggregates
    "filter_aggregates": (
        """SELECT customer_id, count(*) FILTER (WHERE status = 'new') AS new_orders,
                  sum(amount) FILTER (WHERE status IN ('shipped', 'returned')) AS shipped_amount,
                  count_if(discount > 0.5) AS big_discounts, bool_or(status = 'cancelled') AS any_cancelled,
                  bool_and(quantity >= 0) AS all_positive, avg(amount) FILTER (WHERE quantity > 3) AS avg_big
           FROM parity.orders GROUP BY customer_id""",
        False,
    ),
    "aggregate_types": (
        """SELECT count(*) AS n, sum(quantity) AS units, sum(order_id) AS ids, avg(quantity) AS avg_q,
                  min(ordered_at) AS first, max(order_date) AS last, count(DISTINCT customer_id) AS customers,
                  count(DISTINCT note) AS notes, stddev(quantity) AS sd, variance(discount) AS var,
                  sum(discount) AS sum_disc, corr(quantity, discount) AS corr
           FROM parity.orders""",
        False,
    ),
    "min_max_by_and_arrays": (
        """SELECT customer_id, max_by(order_id, amount) AS best, min_by(status, ordered_at) AS first_status,
                  array_agg(order_id ORDER BY order_id) AS ids,
                  array_join(array_agg(status ORDER BY order_id), ',') AS statuses,
                  listagg(status, '|') WITHIN GROUP (ORDER BY order_id) AS listed
           FROM parity.orders GROUP BY customer_id""",
        False,
    ),
    "grouping_sets": (
        """SELECT status, segment, count(*) AS n, sum(o.amount) AS total
           FROM parity.orders o JOIN parity.customers c ON c.id = o.customer_id
           GROUP BY GROUPING SETS ((status, segment), (status), ())
           ORDER BY status NULLS LAST, segment NULLS LAST""",
        True,
    ),
    "rollup": (
        """SELECT y, m, count(*) AS n, sum(amount) AS total, grouping(y, m) AS g
           FROM (SELECT year(ordered_at) AS y, month(ordered_at) AS m, amount FROM parity.orders)
           GROUP BY ROLLUP (y, m) ORDER BY y NULLS LAST, m NULLS LAST""",
        True,
    ),
    "cube": (
        """SELECT status, big, count(*) AS n
           FROM (SELECT status, quantity > 5 AS big FROM parity.orders)
           GROUP BY CUBE (status, big) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST""",
        True,
    ),
    # UNNEST
    "unnest": ("""SELECT c.id, t.tag FROM parity.customers c CROSS JOIN UNNEST(c.tags) AS t(tag)""", False),
    "unnest_with_ordinality": (
        """SELECT c.id, t.tag, t.pos FROM parity.customers c
           CROSS JOIN UNNEST(c.tags) WITH ORDINALITY AS t(tag, pos) ORDER BY c.id, t.pos""",
        True,
    ),
    "unnest_sequence": ("""SELECT x, x * x AS sq FROM UNNEST(sequence(1, 10, 3)) AS t(x)""", False),
    # the SELECT a merge step writes: newest update per key, deletes dropped, the rest kept
    "merge_upsert": (
        """WITH latest AS (
             SELECT * FROM (SELECT u.*, row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) AS rn
                            FROM parity.order_updates u) WHERE rn = 1)
           SELECT coalesce(l.order_id, o.order_id) AS order_id, coalesce(l.status, o.status) AS status,
                  coalesce(l.amount, o.amount) AS amount,
                  CASE WHEN l.order_id IS NULL THEN 'kept' WHEN o.order_id IS NULL THEN 'inserted'
                       ELSE 'updated' END AS action
           FROM parity.orders o FULL OUTER JOIN latest l ON o.order_id = l.order_id
           WHERE coalesce(l.is_deleted, false) = false AND coalesce(l.order_id, o.order_id) >= 280
           ORDER BY order_id""",
        True,
    ),
    # numbers
    "integer_division": (
        """SELECT order_id, quantity / 2 AS half, quantity % 3 AS r, order_id / 7 AS week, -quantity / 4 AS neg,
                  CAST(order_id AS bigint) / 3 AS third, x / y AS from_values
           FROM parity.orders CROSS JOIN (VALUES (7, 2)) AS v(x, y)""",
        False,
    ),
    "decimal_arithmetic": (
        """SELECT order_id, amount * 2 AS doubled, amount + DECIMAL '0.005' AS plus, amount * quantity AS line,
                  amount - 10.5 AS minus, round(amount * DECIMAL '0.075', 2) AS tax, amount * amount AS sq,
                  -amount AS neg, abs(amount - 500) AS dist, amount % 7 AS rest, sign(amount - 400) AS sgn
           FROM parity.orders""",
        False,
    ),
    "decimal_division_and_average": (
        """SELECT entry, amount / 2 AS half, amount / 3 AS third, amount / rate AS per_rate, rate / 7 AS seventh,
                  amount / DECIMAL '0.30' AS scaled, avg(amount) OVER (PARTITION BY account) AS account_avg
           FROM parity.ledger WHERE rate <> 0""",
        False,
    ),
    "decimal_average_half_up": (
        """SELECT account, avg(amount) AS avg_amount, avg(rate) AS avg_rate, avg(DISTINCT amount) AS avg_distinct,
                  sum(amount) / count(*) AS manual, avg(units) AS avg_units
           FROM parity.ledger GROUP BY account""",
        False,
    ),
    "decimal_average_subquery": (
        """SELECT avg(product) AS avg_product, avg(v) AS avg_values
           FROM (SELECT amount * rate AS product FROM parity.ledger)
           CROSS JOIN (VALUES (DECIMAL '0.05'), (DECIMAL '0.00'), (NULL)) AS t(v)""",
        False,
    ),
    "math": (
        """SELECT order_id, greatest(quantity, 3) AS g, least(quantity, 3) AS l, ceil(discount * 10) AS c,
                  floor(discount * 10) AS f, power(quantity, 2) AS p, sqrt(CAST(order_id AS double)) AS s,
                  mod(order_id, 7) AS m, round(discount, 2) AS r, sign(quantity) AS sg,
                  CAST(quantity AS double) / 0 AS inf, bitwise_and(order_id, 6) AS bits
           FROM parity.orders WHERE order_id < 50""",
        False,
    ),
    # NULLs, ordering, paging
    "null_handling": (
        """SELECT order_id, coalesce(note, 'none') AS note, nullif(quantity, 0) AS q, discount IS NULL AS no_discount,
                  amount IS DISTINCT FROM NULL AS has_amount, if(discount > 0.3, 'high', 'low') AS level,
                  count(note) OVER () AS notes, count(*) OVER () AS all_rows,
                  CASE status WHEN 'new' THEN 1 WHEN 'shipped' THEN 2 ELSE 0 END AS code
           FROM parity.orders""",
        False,
    ),
    "order_by_nulls": (
        """SELECT order_id, discount, note FROM parity.orders
           ORDER BY discount DESC NULLS FIRST, note ASC NULLS LAST, order_id""",
        True,
    ),
    "limit_offset": (
        """SELECT order_id, amount FROM parity.orders ORDER BY amount DESC NULLS LAST, order_id OFFSET 5 LIMIT 10""",
        True,
    ),
    # JSON and arrays
    "json": (
        """SELECT order_id, json_extract_scalar(payload, '$.channel') AS channel,
                  json_extract_scalar(payload, '$.items[0].sku') AS sku,
                  CAST(json_extract_scalar(payload, '$.items[0].qty') AS integer) AS qty,
                  json_extract_scalar(payload, '$.coupon') AS coupon, json_extract_scalar(payload, '$.items') AS not_scalar,
                  json_format(json_extract(payload, '$.items')) AS items
           FROM parity.orders""",
        False,
    ),
    "json_nested": (
        """SELECT id, json_extract_scalar(attributes, '$.address.city') AS city,
                  CAST(json_extract_scalar(attributes, '$.vip') AS boolean) AS vip
           FROM parity.customers""",
        False,
    ),
    "arrays": (
        """SELECT id, cardinality(tags) AS n, contains(tags, 't1') AS has_t1, element_at(tags, 1) AS first_tag,
                  transform(tags, x -> upper(x)) AS upper_tags, filter(tags, x -> x <> 't0') AS no_t0,
                  array_sort(tags) AS sorted, array_max(tags) AS biggest, slice(tags, 1, 1) AS head,
                  array_position(tags, 't1') AS t1_at
           FROM parity.customers""",
        False,
    ),
    # refused on the embedded profile: DuckDB fails, or answers differently
    "approx_distinct": (
        """SELECT approx_distinct(order_id * 100 + x) AS n FROM parity.orders CROSS JOIN UNNEST(sequence(1, 40)) AS t(x)""",
        False,
    ),
    "approx_percentile": (
        """SELECT status, approx_percentile(amount, 0.5) AS median FROM parity.orders GROUP BY status""",
        False,
    ),
    "at_time_zone": (
        """SELECT order_id, shipped_at AT TIME ZONE 'Europe/Paris' AS paris FROM parity.orders
           WHERE shipped_at IS NOT NULL""",
        False,
    ),
    "double_to_varchar": ("""SELECT order_id, CAST(discount AS varchar) AS d FROM parity.orders""", False),
    "char_padding": ("""SELECT id, CAST(segment AS char(10)) AS padded FROM parity.customers""", False),
    "tablesample": ("""SELECT order_id FROM parity.orders TABLESAMPLE BERNOULLI (50)""", False),
    "unnest_zip": ("""SELECT x, y FROM UNNEST(ARRAY[1, 2, 3], ARRAY['a', 'b']) AS t(x, y)""", False),
    "joda_format": (
        """SELECT order_id, format_datetime(ordered_at, 'yyyy/MM/dd HH:mm') AS f FROM parity.orders""",
        False,
    ),
    "map_agg": (
        """SELECT status, element_at(map_agg(order_id, quantity), 10) AS q FROM parity.orders GROUP BY status""",
        False,
    ),
    "json_parse": (
        """SELECT id, json_format(json_parse(attributes)) AS canonical FROM parity.customers""",
        False,
    ),
    "date_minus_date": (
        """SELECT order_id, DATE '2025-01-01' - order_date AS until FROM parity.orders""",
        False,
    ),
    "millisecond": ("""SELECT order_id, millisecond(ordered_at) AS ms FROM parity.orders""", False),
}
REFUSED = {
    "approx_distinct",
    "approx_percentile",
    "at_time_zone",
    "double_to_varchar",
    "char_padding",
    "tablesample",
    "unnest_zip",
    "joda_format",
    "map_agg",
    "json_parse",
    "date_minus_date",
    "millisecond",
}


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Engines:
    trino: Any
    duckdb: Any
    schema: dict[str, dict[str, str]]  # the tables' Trino types, as Trino reports them
    project_dir: Path


@pytest.fixture(scope="module")
def engines(cluster_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.engines.registry import create_engine
    from akko_orchestrator.lakehouse.catalog import open_catalog

    root = tmp_path_factory.mktemp("parity-project")
    (root / "akko.yaml").write_text(PROJECT_YAML)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in cluster_stack.env.items():
            patch.setenv(key, value)
        embedded = load_project(root, profile="embedded")
        catalog = open_catalog(embedded)
        catalog.create_namespace_if_not_exists(NS)
        for name, build in (("orders", orders), ("customers", customers), ("order_updates", order_updates)):
            _replace(catalog, f"{NS}.{name}", build())
        _replace(catalog, f"{NS}.ledger", ledger())
        trino = create_engine("trino", load_project(root, profile="cluster"), catalog)
        duck = create_engine("duckdb", embedded, catalog)
        schema = {}
        for table in TABLES:
            described = trino.query(f"DESCRIBE {table}", [])
            schema[table] = dict(
                zip(described.column("Column").to_pylist(), described.column("Type").to_pylist(), strict=True)
            )
        yield Engines(trino, duck, schema, root)
        trino.close()
        duck.close()


def _replace(catalog: Any, name: str, data: pa.Table) -> None:
    if catalog.table_exists(name):
        catalog.drop_table(name)
    catalog.create_table(name, schema=data.schema).append(data)


# ---------------------------------------------------------------------------------------------------------------
# Comparison


def canonical_type(dtype: pa.DataType) -> Any:
    """Arrow type without the names Arrow gives list items and map entries (`item`, `l`, `entries`)."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return ("list", canonical_type(dtype.value_type))
    if pa.types.is_struct(dtype):
        return ("struct", tuple((f.name, canonical_type(f.type)) for f in dtype))
    if pa.types.is_map(dtype):
        return ("map", canonical_type(dtype.key_type), canonical_type(dtype.item_type))
    return str(dtype)


def column_types(table: pa.Table) -> list[tuple[str, Any]]:
    """The types the pyiceberg writer would store (`normalize`), so equal here means the same table schema."""
    from akko_orchestrator.lakehouse.arrow_io import normalize

    return [(f.name, canonical_type(f.type)) for f in normalize(table).schema]


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def rows(table: pa.Table, ordered: bool) -> list[tuple[Any, ...]]:
    from akko_orchestrator.lakehouse.arrow_io import normalize

    values = [tuple(row.values()) for row in normalize(table).to_pylist()]
    return values if ordered else sorted(values, key=lambda row: tuple((x is None, str(x)) for x in row))


def differences(trino: pa.Table, duck: pa.Table, ordered: bool) -> list[str]:
    """What differs between two results (empty when they are identical)."""
    found = []
    if column_types(trino) != column_types(duck):
        found.append(f"types: Trino {column_types(trino)} / DuckDB {column_types(duck)}")
    left, right = rows(trino, ordered), rows(duck, ordered)
    if len(left) != len(right):
        found.append(f"{len(left)} rows on Trino, {len(right)} on DuckDB")
    for a, b in zip(left, right, strict=False):
        if not same_value(list(a), list(b)):
            found.append(f"first different row: Trino {a} / DuckDB {b}")
            break
    return found


# ---------------------------------------------------------------------------------------------------------------
# Parity


def test_there_are_enough_queries() -> None:
    assert len(Q) - len(REFUSED) >= 30 and set(Q) >= REFUSED


@pytest.mark.parametrize("name", sorted(Q))
def test_same_answer_or_refused(engines: Engines, name: str) -> None:
    from akko_orchestrator.errors import AkkoError
    from akko_orchestrator.plan.sql_support import embedded_unsupported

    sql, ordered = Q[name]
    on_trino = engines.trino.query(sql, TABLES)  # every query is valid Trino SQL
    assert on_trino.num_rows > 0, f"{name}: an empty result proves nothing"
    issues = embedded_unsupported(sql, engines.schema)
    try:
        on_duckdb = engines.duckdb.query(sql, TABLES)
    except AkkoError as exc:
        found = [f"DuckDB fails: {str(exc).splitlines()[0]}"]
    else:
        found = differences(on_trino, on_duckdb, ordered)

    assert bool(issues) == (name in REFUSED), (name, [str(i) for i in issues])
    if issues:  # refused: and rightly so
        assert found, f"{name} is refused for the embedded profile, yet DuckDB gives Trino's answer: {issues}"
        for issue in issues:
            assert "not supported by the embedded engine (DuckDB)" in issue.message
            assert "`cluster` profile" in issue.message
            assert 0 <= issue.offset < len(sql)
    else:  # accepted: the same answer
        assert not found, f"{name}: DuckDB answers differently from Trino: {found}"


# ---------------------------------------------------------------------------------------------------------------
# TrinoEngine's errors


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _engine(engines: Engines, profile: str) -> Any:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.engines.trino_engine import TrinoEngine

    return TrinoEngine(load_project(engines.project_dir, profile=profile), None)


def test_unreachable_trino_names_endpoint_profile_and_connection(
    engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    from akko_orchestrator.errors import AkkoError

    port, secret = _free_port(), "n0t-a-real-s3cret"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AKKO_TRINO_DOWN",
        f"trino://akko:{secret}@127.0.0.1:{port}/?catalog=iceberg&protocol=https",
    )
    engine = _engine(engines, "unreachable")
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert f"https://127.0.0.1:{port}" in message
    assert "profile 'unreachable'" in message and "akko_trino_down" in message
    assert "unreachable" in message.lower() and "refused" in message.lower()
    assert secret not in message


def test_sql_error_has_trinos_line_and_column(engines: Engines) -> None:
    from akko_orchestrator.errors import AkkoError

    with pytest.raises(AkkoError) as raised:
        engines.trino.query("SELECT order_id,\n       nope\nFROM parity.orders", TABLES)
    message = str(raised.value)
    assert "line 2:8: Column 'nope' cannot be resolved" in message and "COLUMN_NOT_FOUND" in message
    with pytest.raises(AkkoError, match="parity.nothing_here does not exist yet"):
        engines.trino.query("SELECT * FROM parity.nothing_here", ["parity.nothing_here"])


def test_session_catalog_is_the_profiles(engines: Engines) -> None:
    """Unqualified namespace.table resolves in the profile's catalog, as in spec SQL."""
    result = engines.trino.query(
        "SELECT current_catalog AS c, entry FROM parity.ledger WHERE entry = 3", TABLES
    )
    assert result.to_pylist() == [{"c": "iceberg", "entry": 3}]


def test_wrong_password_is_an_authentication_error_without_the_secret(
    engines: Engines, cluster_stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from akko_orchestrator.errors import AkkoError

    url = urlsplit(cluster_stack.env["AIRFLOW_CONN_AKKO_TRINO"])
    if not url.password:
        pytest.skip(
            "the stack's Trino has no password authentication (AIRFLOW_CONN_AKKO_TRINO has no password)"
        )
    wrong = "wr0ng-" + url.password[::-1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_AKKO_TRINO_WRONG",
        url._replace(netloc=f"{url.username}:{wrong}@{url.hostname}:{url.port}").geturl(),
    )
    engine = _engine(engines, "wrong-password")
    with pytest.raises(AkkoError) as raised:
        engine.query("SELECT 1", [])
    message = str(raised.value)
    assert "credentials" in message and "HTTP 401" in message and f"user '{url.username}'" in message
    assert f"{url.hostname}:{url.port}" in message and "akko_trino_wrong" in message
    assert wrong not in message and url.password not in message
