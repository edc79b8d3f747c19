"""dbt step parse time: AKKO's shim against astronomer-cosmos' DbtDag on the same generated 200-model dbt project.

Generates (in a temporary folder) a dbt project of 200 models -- five regional shops, each with eight staging
models over its own source (eight raw tables), sixteen intermediate models and fifteen marts, plus five global
marts unioning the regions (a Jinja loop over a var); layered refs, custom schemas per layer, one incremental
fact per region, 195 generic and singular tests -- with `profile: akko` in its dbt_project.yml. The same folder is
given to

- AKKO: a throwaway AKKO project (akko.yaml with an embedded `local` profile, one spec whose only step is `kind:
  dbt, project: dbt/bench_shop`), its graph built once beforehand by `sync_shims` (what `akko sync`, `run`, `dev`
  do: `dbt parse` + `dbt ls` in a subprocess, stored under the project's target/akko/), then its shim parsed;
  also with AKKO's compiler preloaded (the airflow_local_settings.py that `akko dev`/`run` write into their
  Airflow home imports it in every Airflow process, so the dag-processor's forked children find it imported);
- cosmos (astronomer-cosmos): a DAG file with `DbtDag(ProjectConfig(<project>), ProfileConfig(profiles.yml of a
  DuckDB target), ExecutionConfig(dbt_executable_path=.venv/bin/dbt), RenderConfig())`. RenderConfig's defaults:
  LoadMode.AUTOMATIC, which without a manifest runs `dbt ls` (in process through dbtRunner, cosmos' default
  invocation mode when dbt-core is importable, as here), TestBehavior.AFTER_EACH. cosmos' cache is off
  (AIRFLOW__COSMOS__ENABLE_CACHE=False), so every parse runs `dbt ls` on the whole project;
- cosmos, LoadMode.DBT_MANIFEST: the same DbtDag reading a manifest.json made once by `dbt parse` (the fairer
  baseline: no dbt at parse time either);
- (context) cosmos' default with its cache on and warm: the `dbt ls` output cached in an Airflow Variable (read
  here from the environment, AIRFLOW_VAR_*, as a secrets backend would serve it), so no dbt runs.

Each measured parse is a fresh Python process doing what Airflow's dag-processor child does with one DAG file:
pre-import the file's `airflow.*` imports (untimed, as the dag-processor does in its parent), then -- timed --
fill a `DagBag` from the file and serialize its DAG (`DagSerialization.to_dict`). The process also records every
child process started (audit hooks: subprocess, fork, exec, spawn) and whether any `dbt` module was imported
during the parse. Before timing, each DAG must have 200 model tasks, each waiting for the models it refs (AKKO's
may also wait for the other parents of its relationships tests, which gate it) and nothing else.

Runs alternate (the order rotates each round); medians of N fresh processes per variant. Goal (issue "dbt steps"):
AKKO at least 20x faster per parse than cosmos' default, and no dbt subprocess and no dbt import at parse time.

Run: `uv run python benchmarks/bench_dbt_parse.py [--repeats 5] [--no-cached] [--keep]`.
Figures go to benchmarks/results/dbt-parse-<UTC time>.json (`--json FILE` elsewhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, isolated_env, median, spread, table  # noqa: E402

GOAL_SPEEDUP = 20.0  # cosmos' default parse time / AKKO's, at least
RESULTS = REPO / "benchmarks" / "results"
DBT = Path(sys.executable).parent / "dbt"
PROJECT = "bench_shop"
PIPELINE = "bench_dbt_shop"
STEP = "shop"
REGIONS = ("eu", "us", "apac", "latam", "mea")
SPAWN_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.exec",
    "os.spawn",
)
VARIANTS = ("akko", "akko_preloaded", "cosmos_default", "cosmos_manifest", "cosmos_cached")
LABELS = {
    "akko": "akko shim (stored graph)",
    "akko_preloaded": "akko, compiler preloaded (as akko dev's Airflow)",
    "cosmos_default": "cosmos default (LoadMode.AUTOMATIC: dbt ls, cosmos cache off)",
    "cosmos_manifest": "cosmos LoadMode.DBT_MANIFEST",
    "cosmos_cached": "cosmos default, dbt ls cache warm (Airflow Variable)",
}
SHORT = {
    "akko": "akko",
    "akko_preloaded": "akko preloaded",
    "cosmos_default": "cosmos dbt ls",
    "cosmos_manifest": "cosmos manifest",
    "cosmos_cached": "cosmos dbt ls cached",
}


# --------------------------------------------------------------------------------------------------------------
# The generated dbt project: five regional shops of 39 models each, plus 5 global marts
# --------------------------------------------------------------------------------------------------------------

# Raw table -> (primary key, staging select list, tested foreign key or None, description).
STAGING: dict[str, tuple[str, list[str], str | None, str]] = {
    "customers": (
        "customer_id",
        [
            "cast(customer_id as bigint) as customer_id",
            "trim(full_name) as full_name",
            "lower(trim(email)) as email",
            "upper(trim(country)) as country_code",
            "cast(created_at as timestamp) as created_at",
        ],
        None,
        "One row per registered customer.",
    ),
    "orders": (
        "order_id",
        [
            "cast(order_id as bigint) as order_id",
            "cast(customer_id as bigint) as customer_id",
            "lower(trim(status)) as status",
            "cast(ordered_at as timestamp) as ordered_at",
            "cast(amount as double) as amount",
        ],
        "customer_id",
        "One row per order, as the shop's order service exports it.",
    ),
    "order_items": (
        "order_item_id",
        [
            "cast(order_item_id as bigint) as order_item_id",
            "cast(order_id as bigint) as order_id",
            "cast(product_id as bigint) as product_id",
            "cast(quantity as integer) as quantity",
            "cast(unit_price as double) as unit_price",
        ],
        "order_id",
        "One row per order line.",
    ),
    "products": (
        "product_id",
        [
            "cast(product_id as bigint) as product_id",
            "trim(name) as product_name",
            "lower(trim(category)) as category",
            "cast(list_price as double) as list_price",
        ],
        None,
        "The product catalogue.",
    ),
    "payments": (
        "payment_id",
        [
            "cast(payment_id as bigint) as payment_id",
            "cast(order_id as bigint) as order_id",
            "lower(trim(method)) as payment_method",
            "cast(amount as double) as amount",
            "cast(paid_at as timestamp) as paid_at",
        ],
        "order_id",
        "Payment captures (an order may have several).",
    ),
    "shipments": (
        "shipment_id",
        [
            "cast(shipment_id as bigint) as shipment_id",
            "cast(order_id as bigint) as order_id",
            "upper(trim(carrier)) as carrier",
            "cast(shipped_at as timestamp) as shipped_at",
            "cast(delivered_at as timestamp) as delivered_at",
        ],
        "order_id",
        "Parcels handed to carriers.",
    ),
    "refunds": (
        "refund_id",
        [
            "cast(refund_id as bigint) as refund_id",
            "cast(order_id as bigint) as order_id",
            "cast(amount as double) as refund_amount",
            "cast(refunded_at as timestamp) as refunded_at",
            "lower(trim(reason)) as reason",
        ],
        "order_id",
        "Refunds, full or partial.",
    ),
    "sessions": (
        "session_id",
        [
            "cast(session_id as bigint) as session_id",
            "cast(customer_id as bigint) as customer_id",
            "lower(trim(channel)) as channel",
            "cast(started_at as timestamp) as started_at",
            "cast(page_views as integer) as page_views",
        ],
        "customer_id",
        "Web and app sessions of signed-in customers.",
    ),
}

STAGING_SQL = """with source as (
    select * from {{{{ source('{region}_shop', '{table}') }}}}
),

renamed as (
    select
{columns}
    from source
    where {pk} is not null
)

select * from renamed
"""

# Intermediate models: name -> (SQL with {r} for the region's refs, description). `{{ ref('x') }}` written as
# [[x]] and expanded by `_refs` (which also records the dependency).
INTERMEDIATE: dict[str, str] = {
    "orders_enriched": """with orders as (
    select * from [[stg_{r}__orders]]
),

customers as (
    select * from [[stg_{r}__customers]]
)

select
    o.order_id,
    o.customer_id,
    c.country_code,
    c.email,
    o.status,
    o.ordered_at,
    o.amount
from orders as o
left join customers as c on o.customer_id = c.customer_id
""",
    "order_items_priced": """select
    i.order_item_id,
    i.order_id,
    i.product_id,
    p.category,
    i.quantity,
    i.unit_price,
    i.quantity * i.unit_price as line_amount,
    i.unit_price < p.list_price as is_discounted
from [[stg_{r}__order_items]] as i
join [[stg_{r}__products]] as p on i.product_id = p.product_id
""",
    "order_totals": """select
    order_id,
    count(*) as item_count,
    sum(quantity) as units,
    round(sum(line_amount), 2) as items_amount,
    max(case when is_discounted then 1 else 0 end) = 1 as has_discount
from [[int_{r}__order_items_priced]]
group by order_id
""",
    "orders_with_totals": """select
    o.*,
    coalesce(t.item_count, 0) as item_count,
    coalesce(t.units, 0) as units,
    coalesce(t.items_amount, 0) as items_amount,
    coalesce(t.has_discount, false) as has_discount
from [[int_{r}__orders_enriched]] as o
left join [[int_{r}__order_totals]] as t on o.order_id = t.order_id
""",
    "payments_by_order": """select
    order_id,
    count(*) as payment_count,
    round(sum(amount), 2) as paid_amount,
    min(payment_method) as first_payment_method,
    max(paid_at) as last_paid_at
from [[stg_{r}__payments]]
group by order_id
""",
    "orders_paid": """select
    o.*,
    coalesce(p.payment_count, 0) as payment_count,
    coalesce(p.paid_amount, 0) as paid_amount,
    p.first_payment_method,
    p.last_paid_at,
    coalesce(p.paid_amount, 0) >= o.amount as is_fully_paid
from [[int_{r}__orders_with_totals]] as o
left join [[int_{r}__payments_by_order]] as p on o.order_id = p.order_id
""",
    "shipments_timing": """select
    s.shipment_id,
    s.order_id,
    s.carrier,
    s.shipped_at,
    s.delivered_at,
    date_diff('hour', o.ordered_at, s.shipped_at) as hours_to_ship,
    date_diff('day', s.shipped_at, s.delivered_at) as days_in_transit
from [[stg_{r}__shipments]] as s
join [[stg_{r}__orders]] as o on s.order_id = o.order_id
""",
    "orders_shipped": """with first_shipment as (
    select
        order_id,
        min(shipped_at) as shipped_at,
        max(delivered_at) as delivered_at,
        max(days_in_transit) as days_in_transit,
        count(*) as parcels
    from [[int_{r}__shipments_timing]]
    group by order_id
)

select
    o.*,
    s.shipped_at,
    s.delivered_at,
    s.days_in_transit,
    coalesce(s.parcels, 0) as parcels
from [[int_{r}__orders_paid]] as o
left join first_shipment as s on o.order_id = s.order_id
""",
    "refunds_by_order": """select
    order_id,
    count(*) as refund_count,
    round(sum(refund_amount), 2) as refund_amount,
    max(refunded_at) as last_refunded_at
from [[stg_{r}__refunds]]
group by order_id
""",
    "orders_net": """select
    o.*,
    coalesce(r.refund_count, 0) as refund_count,
    coalesce(r.refund_amount, 0) as refund_amount,
    round(o.amount - coalesce(r.refund_amount, 0), 2) as net_amount,
    case
        when o.status = 'cancelled' then 'cancelled'
        when r.refund_amount >= o.amount then 'refunded'
        when o.delivered_at is not null then 'delivered'
        when o.shipped_at is not null then 'in_transit'
        else 'open'
    end as fulfilment_state
from [[int_{r}__orders_shipped]] as o
left join [[int_{r}__refunds_by_order]] as r on o.order_id = r.order_id
""",
    "customer_orders": """select
    customer_id,
    count(*) as orders,
    count_if(fulfilment_state = 'delivered') as delivered_orders,
    round(sum(net_amount), 2) as lifetime_net_amount,
    round(avg(net_amount), 2) as average_order_amount,
    min(ordered_at) as first_order_at,
    max(ordered_at) as last_order_at
from [[int_{r}__orders_net]]
where status <> 'cancelled'
group by customer_id
""",
    "customer_sessions": """select
    customer_id,
    count(*) as sessions,
    sum(page_views) as page_views,
    count_if(channel = 'app') as app_sessions,
    min(started_at) as first_session_at,
    max(started_at) as last_session_at
from [[stg_{r}__sessions]]
group by customer_id
""",
    "customer_activity": """select
    coalesce(o.customer_id, s.customer_id) as customer_id,
    coalesce(o.orders, 0) as orders,
    coalesce(o.lifetime_net_amount, 0) as lifetime_net_amount,
    coalesce(s.sessions, 0) as sessions,
    coalesce(s.page_views, 0) as page_views,
    case when coalesce(s.sessions, 0) = 0 then null
        else round(cast(coalesce(o.orders, 0) as double) / s.sessions, 4) end as orders_per_session,
    greatest(o.last_order_at, s.last_session_at) as last_seen_at
from [[int_{r}__customer_orders]] as o
full outer join [[int_{r}__customer_sessions]] as s on o.customer_id = s.customer_id
""",
    "product_sales": """select
    i.product_id,
    i.category,
    count(distinct i.order_id) as orders,
    sum(i.quantity) as units,
    round(sum(i.line_amount), 2) as revenue
from [[int_{r}__order_items_priced]] as i
join [[int_{r}__orders_net]] as o on i.order_id = o.order_id
where o.fulfilment_state in ('delivered', 'in_transit')
group by i.product_id, i.category
""",
    "category_sales": """select
    category,
    count(*) as products,
    sum(units) as units,
    round(sum(revenue), 2) as revenue,
    round(sum(revenue) / nullif(sum(units), 0), 2) as revenue_per_unit
from [[int_{r}__product_sales]]
group by category
""",
    "daily_orders": """select
    cast(ordered_at as date) as order_date,
    count(*) as orders,
    count(distinct customer_id) as customers,
    round(sum(net_amount), 2) as revenue,
    round(sum(refund_amount), 2) as refunds
from [[int_{r}__orders_net]]
where status <> 'cancelled'
group by cast(ordered_at as date)
""",
}

MARTS: dict[str, str] = {
    "fct_{r}__orders": """{{{{ config(materialized='incremental', unique_key='order_id') }}}}

select
    order_id,
    customer_id,
    country_code,
    status,
    fulfilment_state,
    ordered_at,
    amount,
    net_amount,
    refund_amount,
    item_count,
    units,
    paid_amount,
    is_fully_paid,
    days_in_transit
from [[int_{r}__orders_net]]
{{% if is_incremental() %}}
where ordered_at > (select max(ordered_at) from {{{{ this }}}})
{{% endif %}}
""",
    "dim_{r}__customers": """select
    c.customer_id,
    c.full_name,
    c.email,
    c.country_code,
    c.created_at,
    a.orders,
    a.sessions,
    a.lifetime_net_amount,
    a.last_seen_at,
    case
        when a.lifetime_net_amount >= 1000 then 'vip'
        when a.orders >= 3 then 'loyal'
        when a.orders >= 1 then 'active'
        else 'prospect'
    end as segment
from [[stg_{r}__customers]] as c
left join [[int_{r}__customer_activity]] as a on c.customer_id = a.customer_id
""",
    "dim_{r}__products": """select
    p.product_id,
    p.product_name,
    p.category,
    p.list_price,
    coalesce(s.orders, 0) as orders,
    coalesce(s.units, 0) as units,
    coalesce(s.revenue, 0) as revenue,
    rank() over (partition by p.category order by coalesce(s.revenue, 0) desc) as category_rank
from [[stg_{r}__products]] as p
left join [[int_{r}__product_sales]] as s on p.product_id = s.product_id
""",
    "mart_{r}__daily_revenue": """select
    order_date,
    orders,
    customers,
    revenue,
    refunds,
    round(avg(revenue) over (order by order_date rows between 6 preceding and current row), 2) as revenue_7d_avg
from [[int_{r}__daily_orders]]
""",
    "mart_{r}__weekly_revenue": """select
    date_trunc('week', order_date) as week_start,
    sum(orders) as orders,
    round(sum(revenue), 2) as revenue,
    round(sum(refunds), 2) as refunds
from [[int_{r}__daily_orders]]
group by date_trunc('week', order_date)
""",
    "mart_{r}__monthly_revenue": """with monthly as (
    select
        date_trunc('month', order_date) as month_start,
        sum(orders) as orders,
        round(sum(revenue), 2) as revenue
    from [[int_{r}__daily_orders]]
    group by date_trunc('month', order_date)
)

select
    month_start,
    orders,
    revenue,
    round(revenue - lag(revenue) over (order by month_start), 2) as revenue_change
from monthly
""",
    "mart_{r}__category_performance": """select
    category,
    products,
    units,
    revenue,
    revenue_per_unit,
    round(revenue / sum(revenue) over (), 4) as revenue_share,
    rank() over (order by revenue desc) as revenue_rank
from [[int_{r}__category_sales]]
""",
    "mart_{r}__top_products": """select
    product_id,
    product_name,
    category,
    revenue,
    units,
    category_rank
from [[dim_{r}__products]]
where category_rank <= 10
""",
    "mart_{r}__customer_ltv": """select
    customer_id,
    orders,
    lifetime_net_amount,
    average_order_amount,
    date_diff('day', first_order_at, last_order_at) as active_days,
    ntile(10) over (order by lifetime_net_amount desc) as ltv_decile
from [[int_{r}__customer_orders]]
""",
    "mart_{r}__customer_segments": """select
    segment,
    count(*) as customers,
    round(avg(lifetime_net_amount), 2) as average_ltv,
    sum(orders) as orders
from [[dim_{r}__customers]]
group by segment
""",
    "mart_{r}__payment_methods": """select
    p.payment_method,
    count(*) as payments,
    count(distinct p.order_id) as orders,
    round(sum(p.amount), 2) as amount,
    round(avg(case when o.is_fully_paid then 1.0 else 0.0 end), 4) as fully_paid_share
from [[stg_{r}__payments]] as p
join [[int_{r}__orders_paid]] as o on p.order_id = o.order_id
group by p.payment_method
""",
    "mart_{r}__carrier_performance": """select
    carrier,
    count(*) as shipments,
    round(avg(hours_to_ship), 1) as avg_hours_to_ship,
    round(avg(days_in_transit), 1) as avg_days_in_transit,
    max(days_in_transit) as max_days_in_transit,
    count_if(delivered_at is null) as undelivered
from [[int_{r}__shipments_timing]]
group by carrier
""",
    "mart_{r}__refund_rate": """select
    date_trunc('month', ordered_at) as month_start,
    count(*) as orders,
    count_if(refund_count > 0) as refunded_orders,
    round(cast(count_if(refund_count > 0) as double) / count(*), 4) as refund_rate,
    round(sum(refund_amount), 2) as refund_amount
from [[int_{r}__orders_net]]
group by date_trunc('month', ordered_at)
""",
    "mart_{r}__channel_mix": """select
    date_trunc('month', started_at) as month_start,
    channel,
    count(*) as sessions,
    count(distinct customer_id) as customers,
    sum(page_views) as page_views
from [[stg_{r}__sessions]]
group by date_trunc('month', started_at), channel
""",
    "mart_{r}__cohort_retention": """with orders as (
    select
        o.customer_id,
        date_trunc('month', c.first_order_at) as cohort_month,
        date_trunc('month', o.ordered_at) as order_month
    from [[int_{r}__orders_net]] as o
    join [[int_{r}__customer_orders]] as c on o.customer_id = c.customer_id
)

select
    cohort_month,
    date_diff('month', cohort_month, order_month) as months_since_first_order,
    count(distinct customer_id) as customers
from orders
group by cohort_month, date_diff('month', cohort_month, order_month)
""",
}

# Global marts: a union of one regional mart per region (a Jinja loop over `var('regions')`).
GLOBAL: dict[str, tuple[str, str]] = {
    "global_daily_revenue": ("mart_{r}__daily_revenue", "order_date, orders, customers, revenue, refunds"),
    "global_customer_ltv": ("mart_{r}__customer_ltv", "customer_id, orders, lifetime_net_amount, ltv_decile"),
    "global_category_performance": (
        "mart_{r}__category_performance",
        "category, units, revenue, revenue_rank",
    ),
    "global_carrier_performance": (
        "mart_{r}__carrier_performance",
        "carrier, shipments, avg_days_in_transit",
    ),
    "global_refund_rate": ("mart_{r}__refund_rate", "month_start, orders, refunded_orders, refund_rate"),
}
GLOBAL_SQL = """{{% set regions = var('regions') %}}

{{% for region in regions %}}
select
    '{{{{ region }}}}' as region,
    {columns}
from {{{{ ref('{pattern_start}' ~ region ~ '{pattern_end}') }}}}
{{% if not loop.last %}}union all{{% endif %}}
{{% endfor %}}
"""

DBT_PROJECT_YML = f"""name: {PROJECT}
version: "1.0.0"
config-version: 2
profile: akko

model-paths: ["models"]
test-paths: ["tests"]
clean-targets: ["target", "dbt_packages"]

flags:
  send_anonymous_usage_stats: false

vars:
  regions: {list(REGIONS)}

models:
  {PROJECT}:
    staging:
      +schema: staging
      +materialized: view
    intermediate:
      +schema: intermediate
      +materialized: table
    marts:
      +schema: marts
      +materialized: table
"""


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _refs(sql: str, region: str, deps: list[str]) -> str:
    """[[name]] -> {{ ref('name') }} (with the region filled in), recording the dependency."""
    out, rest = [], sql
    while "[[" in rest:
        before, after = rest.split("[[", 1)
        name, rest = after.split("]]", 1)
        name = name.format(r=region)
        deps.append(name)
        out += [before, f"{{{{ ref('{name}') }}}}"]
    out.append(rest)
    return "".join(out)


MARTS_YML = """version: 2
models:
  - name: fct_{r}__orders
    description: One row per order with its payment, shipping and refund state (incremental).
    columns:
      - name: order_id
        data_tests: [unique, not_null]
      - name: customer_id
        data_tests:
          - not_null
          - relationships:
              arguments: {{to: "ref('dim_{r}__customers')", field: customer_id}}
      - name: fulfilment_state
        data_tests:
          - accepted_values:
              arguments: {{values: [cancelled, refunded, delivered, in_transit, open]}}
  - name: dim_{r}__customers
    description: One row per customer with activity and segment.
    columns:
      - name: customer_id
        data_tests: [unique, not_null]
      - name: segment
        data_tests:
          - accepted_values:
              arguments: {{values: [vip, loyal, active, prospect]}}
  - name: dim_{r}__products
    columns:
      - name: product_id
        data_tests: [unique]
  - name: mart_{r}__daily_revenue
    columns:
      - name: order_date
        data_tests: [unique, not_null]
  - name: mart_{r}__monthly_revenue
    columns:
      - name: month_start
        data_tests: [unique]
"""
SINGULAR_TEST = "select order_id from {{{{ ref('fct_{r}__orders') }}}} where net_amount > amount + 0.005\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def generate_dbt_project(
    folder: Path, models: int = 200
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Write the dbt project; return {model: sorted models it refs} and {model: the other parents of its
    relationships tests} (a model may also wait for those). `models` must be 200 (the shape is fixed)."""
    if models != 200:
        raise ValueError("the generated project has exactly 200 models (5 regions x 39 + 5 global marts)")
    (folder / "models").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "dbt_project.yml").write_text(DBT_PROJECT_YML)
    graph: dict[str, list[str]] = {}
    test_parents: dict[str, list[str]] = {}
    for region in REGIONS:
        _staging(folder / "models" / "staging" / region, region, graph, test_parents)
        for short, template in INTERMEDIATE.items():
            name, deps = f"int_{region}__{short}", []
            _write(folder / "models" / "intermediate" / region / f"{name}.sql", _refs(template, region, deps))
            graph[name] = sorted(set(deps))
        marts = folder / "models" / "marts" / region
        for pattern, template in MARTS.items():
            name, deps = pattern.format(r=region), []
            _write(marts / f"{name}.sql", _refs(template.format(r=region), region, deps))
            graph[name] = sorted(set(deps))
        _write(marts / f"_{region}_marts.yml", MARTS_YML.format(r=region))
        test_parents[f"fct_{region}__orders"] = [f"dim_{region}__customers"]
        _write(folder / "tests" / f"assert_{region}_net_not_above_amount.sql", SINGULAR_TEST.format(r=region))
    global_folder = folder / "models" / "marts" / "global"
    for name, (pattern, columns) in GLOBAL.items():
        start, end = pattern.split("{r}")
        sql = GLOBAL_SQL.format(columns=columns, pattern_start=start, pattern_end=end)
        _write(global_folder / f"{name}.sql", sql)
        graph[name] = sorted(pattern.format(r=r) for r in REGIONS)
    docs = {
        "version": 2,
        "models": [{"name": n, "columns": [{"name": "region", "data_tests": ["not_null"]}]} for n in GLOBAL],
    }
    _write(global_folder / "_global.yml", _yaml(docs))
    if len(graph) != models:
        raise AssertionError(f"generated {len(graph)} models instead of {models}")
    return graph, test_parents


def _staging(
    folder: Path, region: str, graph: dict[str, list[str]], test_parents: dict[str, list[str]]
) -> None:
    """A region's source (its eight raw tables), one staging model per table, their tests."""
    tables = [{"name": t, "description": d} for t, (_, _, _, d) in STAGING.items()]
    source = {
        "name": f"{region}_shop",
        "description": f"The {region.upper()} shop's operational tables, replicated daily.",
        "schema": f"raw_{region}",
        "tables": tables,
    }
    _write(folder / f"_{region}_sources.yml", _yaml({"version": 2, "sources": [source]}))
    documented = []
    for raw, (pk, columns, fk, description) in STAGING.items():
        name = f"stg_{region}__{raw}"
        select = ",\n".join(" " * 8 + c for c in columns)
        _write(folder / f"{name}.sql", STAGING_SQL.format(region=region, table=raw, columns=select, pk=pk))
        graph[name] = []
        tested = [{"name": pk, "description": "Primary key.", "data_tests": ["unique", "not_null"]}]
        if fk is not None:
            fk_tests: list[Any] = ["not_null"]
            if raw in ("orders", "order_items"):
                parent = f"stg_{region}__{'customers' if fk == 'customer_id' else 'orders'}"
                test_parents[name] = [parent]
                fk_tests.append({"relationships": {"arguments": {"to": f"ref('{parent}')", "field": fk}}})
            tested.append({"name": fk, "data_tests": fk_tests})
        if raw == "orders":
            values = ["placed", "shipped", "completed", "returned", "cancelled"]
            tested.append(
                {"name": "status", "data_tests": [{"accepted_values": {"arguments": {"values": values}}}]}
            )
        documented.append({"name": name, "description": description, "columns": tested})
    _write(folder / f"_{region}_staging.yml", _yaml({"version": 2, "models": documented}))


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, width=120)


# --------------------------------------------------------------------------------------------------------------
# The contenders' DAG files
# --------------------------------------------------------------------------------------------------------------

AKKO_YAML = """project: bench-dbt
lakehouse: akko
pipelines: pipelines
profile: local
profiles:
  local:
    engine: embedded
"""

AKKO_SPEC = f"""pipeline: {PIPELINE}
description: The generated 200-model shop project as one dbt step.
owner: analytics
team: bench
schedule: '0 5 * * *'
defaults:
  retries: 1
  retry_delay: 30s
steps:
  - id: {STEP}
    kind: dbt
    description: Staging, intermediate models and marts of five regional shops.
    project: dbt/{PROJECT}
    namespace: analytics
"""

COSMOS_DAG = '''"""Airflow DAG: cosmos DbtDag of the generated project (benchmark reference: {label})."""
import datetime as dt
from pathlib import Path

from cosmos import DbtDag, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig

dag = DbtDag(
    dag_id={dag_id!r},
    project_config=ProjectConfig({project_args}),
    profile_config=ProfileConfig(
        profile_name="akko", target_name="bench", profiles_yml_filepath=Path({profiles!r})
    ),
    execution_config=ExecutionConfig(dbt_executable_path={dbt!r}),
    render_config=RenderConfig({render_args}),
    schedule="0 5 * * *",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={{"owner": "analytics", "retries": 1, "retry_delay": dt.timedelta(seconds=30)}},
)
'''

PROFILES_YML = """akko:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: {path}
      schema: analytics
      threads: 1
"""


class Setup:
    """The generated project and every contender's DAG file, in `tmp`."""

    def __init__(self, tmp: Path, models: int):
        self.tmp = tmp
        self.akko_root = tmp / "akko"
        self.project = self.akko_root / "pipelines" / "dbt" / PROJECT
        self.graph, self.test_parents = generate_dbt_project(self.project, models)
        self.models = models
        self.files: dict[str, Path] = {}
        self.env = isolated_env(
            tmp / "airflow",
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            AIRFLOW__COSMOS__ENABLE_CACHE="False",
            AIRFLOW__COSMOS__CACHE_DIR=str(tmp / "cosmos-cache"),
            AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",
        )
        (tmp / "airflow").mkdir()
        self.timings: dict[str, float] = {}

    def akko(self) -> None:
        """akko.yaml + one spec; `sync_shims` builds the step's graph (dbt parse + ls, a subprocess) and the shim."""
        (self.akko_root / "akko.yaml").write_text(AKKO_YAML)
        (self.akko_root / "pipelines" / f"{PIPELINE}.yaml").write_text(AKKO_SPEC)
        code = (
            "import sys; from pathlib import Path; from akko_orchestrator.compiler.shims import sync_shims; "
            "root = Path(sys.argv[1]); sync_shims(root / 'pipelines', root / 'dags', root)"
        )
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(self.akko_root)], check=True, env=self.env)
        self.timings["akko_graph_build_s"] = round(time.perf_counter() - started, 2)
        graphs = list((self.project / "target" / "akko").glob("graph-*.json"))
        if len(graphs) != 1:
            raise RuntimeError(f"akko sync left {len(graphs)} graph file(s) in {self.project}/target/akko")
        self.files["akko"] = self.akko_root / "dags" / f"{PIPELINE}.py"
        # The Airflow AKKO runs (`akko dev`, `run`) has an airflow_local_settings.py preloading the compiler in
        # every Airflow process, so the dag-processor's forked children find it imported.
        from akko_orchestrator.local_airflow.environment import write_local_settings

        home = self.tmp / "airflow-akko-preloaded"
        write_local_settings(home)
        self.files["akko_preloaded"] = self.files["akko"]
        self.preloaded_env = {**self.env, "AIRFLOW_HOME": str(home)}

    def cosmos(self, cached: bool) -> None:
        folder = self.tmp / "cosmos"
        profiles = folder / "profiles" / "profiles.yml"
        profiles.parent.mkdir(parents=True)
        profiles.write_text(PROFILES_YML.format(path=folder / "bench.duckdb"))
        manifest_target = folder / "manifest-target"
        started = time.perf_counter()
        subprocess.run(
            [
                str(DBT),
                "parse",
                "--project-dir",
                str(self.project),
                "--profiles-dir",
                str(profiles.parent),
                "--target-path",
                str(manifest_target),
                "--log-path",
                str(folder / "logs"),
                "--quiet",
            ],
            check=True,
            env=self.env,
        )
        self.timings["dbt_parse_manifest_s"] = round(time.perf_counter() - started, 2)
        common = {"profiles": str(profiles), "dbt": str(DBT)}
        variants = {
            "cosmos_default": ("", f"Path({str(self.project)!r})"),
            "cosmos_manifest": (
                "load_method=LoadMode.DBT_MANIFEST",
                f"Path({str(self.project)!r}), manifest_path=Path({str(manifest_target / 'manifest.json')!r})",
            ),
        }
        if cached:
            variants["cosmos_cached"] = variants["cosmos_default"]
        for name, (render_args, project_args) in variants.items():
            dags = folder / name
            dags.mkdir()
            path = dags / f"{name}.py"
            path.write_text(
                COSMOS_DAG.format(
                    label=LABELS[name],
                    dag_id=name,
                    project_args=project_args,
                    render_args=render_args,
                    **common,
                )
            )
            self.files[name] = path
        if cached:
            self._cosmos_cache()

    def _cosmos_cache(self) -> None:
        """One parse with cosmos' cache on, capturing the Variable it would store; later parses read it from the
        environment (AIRFLOW_VAR_<KEY>), as Airflow's environment-variables secrets backend serves Variables."""
        saved = self.tmp / "cosmos-cache-variable.json"
        out = self.tmp / "cosmos-cache-prepare.json"
        env = {**self.env, "AIRFLOW__COSMOS__ENABLE_CACHE": "True"}
        parsed = _run_worker(self.files["cosmos_cached"], out, env, save_cosmos_cache=saved)
        if parsed["dags"] != 1 or not saved.is_file():
            raise RuntimeError(f"cosmos' cache was not captured: {parsed['dags']} DAG(s) parsed")
        stored = json.loads(saved.read_text())
        if len(stored) != 1:
            raise RuntimeError(f"cosmos stored {len(stored)} cache Variables instead of 1")
        ((key, value),) = stored.items()
        self.cached_env = {
            **env,
            f"AIRFLOW_VAR_{key.upper()}": json.dumps(value),
        }
        self.cache_key = key

    def env_for(self, name: str) -> dict[str, str]:
        return {"cosmos_cached": getattr(self, "cached_env", None), "akko_preloaded": self.preloaded_env}.get(
            name
        ) or self.env


# --------------------------------------------------------------------------------------------------------------
# One parse, in a fresh process
# --------------------------------------------------------------------------------------------------------------


def parse_worker(dag_file: str, out: str, save_cosmos_cache: str | None = None) -> None:
    """In a fresh process: what the dag-processor's child does with `dag_file`, timed, with every child process
    and dbt import recorded. Writes the figures to `out` (JSON)."""
    spawned: list[str] = []
    recording = [False]

    def audit(event: str, args: tuple) -> None:
        if recording[0] and event in SPAWN_EVENTS:
            spawned.append(f"{event} {str(args)[:160]}")

    sys.addaudithook(audit)
    started = time.perf_counter()
    import importlib

    import airflow  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.file import iter_airflow_imports

    for module in iter_airflow_imports(dag_file):  # the dag-processor pre-imports these in its parent
        importlib.import_module(module)
    if save_cosmos_cache:
        _capture_cosmos_cache(Path(save_cosmos_cache))
    preload_s = time.perf_counter() - started
    modules_before = set(sys.modules)
    preloaded = {
        "akko": sum(m.startswith("akko_orchestrator") for m in modules_before),
        "cosmos": sum(m.startswith("cosmos") for m in modules_before),
    }
    children_before = os.times()
    recording[0] = True
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=dag_file)
    t1 = time.perf_counter()
    serialized = [DagSerialization.to_dict(dag) for dag in bag.dags.values()]
    t2 = time.perf_counter()
    recording[0] = False
    children_after = os.times()
    new_modules = set(sys.modules) - modules_before
    dbt_modules = sorted(m for m in new_modules if m == "dbt" or m.startswith(("dbt.", "dbt_")))
    dags = list(bag.dags.values())
    result: dict[str, Any] = {
        "preload_s": preload_s,
        "dagbag_s": t1 - t0,
        "serialize_s": t2 - t1,
        "parse_s": t2 - t0,
        "import_errors": {k: v[-1500:] for k, v in bag.import_errors.items()},
        "dags": len(dags),
        "serialized_bytes": sum(len(json.dumps(s, default=str)) for s in serialized),
        "spawned": spawned,
        "children_cpu_s": round(
            (children_after.children_user - children_before.children_user)
            + (children_after.children_system - children_before.children_system),
            3,
        ),
        "dbt_modules_imported": len(dbt_modules),
        "dbt_modules_sample": dbt_modules[:5],
        "cosmos_modules_imported": sum(m.startswith("cosmos") for m in new_modules),
        "akko_modules_imported": sum(m.startswith("akko_orchestrator") for m in new_modules),
        "modules_preloaded": preloaded,
        "modules_imported": len(new_modules),
    }
    if dags:
        result.update(_shape(dags[0]))
    Path(out).write_text(json.dumps(result))


def _capture_cosmos_cache(path: Path) -> None:
    """Instead of writing its cache Variable (no metadata DB here), cosmos writes it to `path`."""
    from cosmos.dbt import graph as cosmos_graph

    def save(self: Any, cache_dict: dict[str, Any], label: str) -> None:
        path.write_text(json.dumps({self.cache_key: cache_dict}))

    cosmos_graph.DbtGraph._save_cache_to_variable = save


def _model_of(task_id: str) -> str:
    """cosmos: `<model>.run` / `<model>.test` (a model with tests: a task group) or `<model>_run`."""
    name = task_id.split(".")[0]
    for suffix in ("_run", "_test"):
        if "." not in task_id and name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _shape(dag: Any) -> dict[str, Any]:
    """Tasks, model tasks and each model task's upstream models (AKKO: DbtNodeOperator; cosmos: DbtRun*)."""
    model_tasks = {}
    for task in dag.tasks:
        kind = type(task).__name__
        if kind == "DbtNodeOperator":
            model_tasks[task.task_id] = task.node.name
        elif kind.startswith("DbtRun"):
            model_tasks[task.task_id] = _model_of(task.task_id)
    upstream: dict[str, list[str]] = {}
    for task_id, model in model_tasks.items():
        parents = set()
        for parent_id in dag.get_task(task_id).upstream_task_ids:
            parent = dag.get_task(parent_id)
            kind = type(parent).__name__
            if kind == "DbtNodeOperator":
                parents.add(parent.node.name)
            elif kind.startswith(("DbtRun", "DbtTest")):
                parents.add(_model_of(parent_id))
        parents.discard(model)
        upstream[model] = sorted(parents)
    kinds: dict[str, int] = {}
    for task in dag.tasks:
        kinds[type(task).__name__] = kinds.get(type(task).__name__, 0) + 1
    return {
        "tasks": len(dag.tasks),
        "model_tasks": len(model_tasks),
        "task_kinds": kinds,
        "upstream": upstream,
    }


def _run_worker(
    dag_file: Path, out: Path, env: dict[str, str], save_cosmos_cache: Path | None = None
) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(dag_file), str(out)]
    if save_cosmos_cache is not None:
        command += ["--save-cosmos-cache", str(save_cosmos_cache)]
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"parsing {dag_file} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["process_s"] = wall
    if result["import_errors"]:
        raise RuntimeError(f"{dag_file}: import error: {result['import_errors']}")
    return result


def check_shape(
    name: str, parsed: dict[str, Any], graph: dict[str, list[str]], test_parents: dict[str, list[str]]
) -> dict[str, Any]:
    """One DAG with one task per model, each waiting for the models it refs and at most also for the other
    parents of its relationships tests (AKKO gates a model with its tests, so it waits for what they read)."""
    problems = []
    if parsed["dags"] != 1:
        problems.append(f"{parsed['dags']} DAGs")
    if parsed.get("model_tasks") != len(graph):
        problems.append(f"{parsed.get('model_tasks')} model tasks instead of {len(graph)}")
    upstream = parsed.get("upstream", {})
    if set(upstream) != set(graph):
        problems.append(
            f"model tasks differ from the project's models, e.g. {sorted(set(upstream) ^ set(graph))[:3]}"
        )
    wrong = [
        m
        for m in graph
        if m in upstream and not set(graph[m]) <= set(upstream[m]) <= {*graph[m], *test_parents.get(m, ())}
    ]
    if wrong:
        m = wrong[0]
        problems.append(
            f"{len(wrong)} model(s) with other dependencies, e.g. {m}: {upstream[m]} != {graph[m]}"
        )
    extra = sum(len(set(upstream[m]) - set(graph[m])) for m in graph if m in upstream)
    if problems:
        raise RuntimeError(f"{name}: " + "; ".join(problems))
    return {
        "tasks": parsed["tasks"],
        "model_tasks": parsed["model_tasks"],
        "task_kinds": parsed["task_kinds"],
        "model_edges": sum(len(v) for v in upstream.values()),
        "edges_from_tests": extra,
    }


# --------------------------------------------------------------------------------------------------------------
# Measure and report
# --------------------------------------------------------------------------------------------------------------


def measure(
    repeats: int = 5,
    models: int = 200,
    cached: bool = True,
    keep: bool = False,
    json_path: str | None = None,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="akko-bench-dbt-parse-"))
    load_start = [round(x, 2) for x in os.getloadavg()]
    try:
        setup = Setup(tmp, models)
        print(
            "generating the project, building akko's graph and cosmos' manifest...",
            file=sys.stderr,
            flush=True,
        )
        setup.akko()
        setup.cosmos(cached)
        names = [n for n in VARIANTS if n in setup.files]
        # Untimed first parse of each (bytecode cache, akko's shim cache, OS file cache), and the shape checks.
        shapes, first = {}, {}
        for name in names:
            parsed = _run_worker(setup.files[name], tmp / f"{name}.json", setup.env_for(name))
            shapes[name] = check_shape(name, parsed, setup.graph, setup.test_parents)
            first[name] = round(parsed["parse_s"], 3)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for rep in range(repeats):
            print(f"round {rep + 1}/{repeats}...", file=sys.stderr, flush=True)
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                parsed = _run_worker(setup.files[name], tmp / f"{name}.json", setup.env_for(name))
                parsed.pop("upstream", None)
                samples[name].append(parsed)
        result = _figures(setup, names, samples, shapes, first, repeats)
        result["cosmos_cache_key"] = getattr(setup, "cache_key", None)
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1_5_15_start": load_start,
        "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
    }
    result["versions"] = _versions()
    result["git"] = _git_state()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(json_path) if json_path else RESULTS / f"dbt-parse-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result["json_file"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def _figures(
    setup: Setup,
    names: list[str],
    samples: dict[str, list[dict[str, Any]]],
    shapes: dict[str, Any],
    first: dict[str, float],
    repeats: int,
) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for name in names:
        runs = samples[name]
        parse = [r["parse_s"] for r in runs]
        per[name] = {
            "parse_s": round(median(parse), 3),
            "parse_s_range": spread(parse),
            "dagbag_s": round(median([r["dagbag_s"] for r in runs]), 3),
            "serialize_s": round(median([r["serialize_s"] for r in runs]), 3),
            "process_s": round(median([r["process_s"] for r in runs]), 2),
            "preload_s": round(median([r["preload_s"] for r in runs]), 2),
            "first_parse_s": first[name],
            "samples_parse_s": [round(p, 3) for p in parse],
            "spawned_per_parse": max(len(r["spawned"]) for r in runs),
            "spawned_sample": runs[-1]["spawned"][:3],
            "children_cpu_s": max(r["children_cpu_s"] for r in runs),
            "dbt_modules_imported": max(r["dbt_modules_imported"] for r in runs),
            "dbt_modules_sample": runs[-1]["dbt_modules_sample"],
            "modules_imported": runs[-1]["modules_imported"],
            "akko_modules_imported": runs[-1]["akko_modules_imported"],
            "cosmos_modules_imported": runs[-1]["cosmos_modules_imported"],
            "modules_preloaded": runs[-1]["modules_preloaded"],
            "serialized_bytes": runs[-1]["serialized_bytes"],
            **shapes[name],
        }
    cosmos = [n for n in names if n.startswith("cosmos")]
    akkos = [n for n in names if n.startswith("akko")]
    # reference / akko: how many times faster AKKO parses (ratio of medians, and median of per-round pairs)
    speedups = {a: {c: round(per[c]["parse_s"] / per[a]["parse_s"], 1) for c in cosmos} for a in akkos}
    pairs = {
        a: {
            c: round(
                median([x["parse_s"] / y["parse_s"] for y, x in zip(samples[a], samples[c], strict=True)]), 1
            )
            for c in cosmos
        }
        for a in akkos
    }
    no_dbt = all(
        per[a]["spawned_per_parse"] == 0
        and per[a]["dbt_modules_imported"] == 0
        and per[a]["children_cpu_s"] == 0
        for a in akkos
    )
    result = {
        "settings": {
            "models": setup.models,
            "repeats": repeats,
            "regions": list(REGIONS),
            "tests": _count_tests(setup),
            "goal_speedup_min": GOAL_SPEEDUP,
            "labels": {n: LABELS[n] for n in names},
        },
        "setup_s": setup.timings,
        "variants": per,
        "speedup": speedups,
        "speedup_pairs_median": pairs,
        "akko_no_dbt_at_parse": no_dbt,
    }
    result["speedup_default"] = speedups["akko"].get("cosmos_default")
    result["speedup_manifest"] = speedups["akko"].get("cosmos_manifest")
    result["meets_goal_speedup"] = (result["speedup_default"] or 0) >= GOAL_SPEEDUP
    result["meets_goal"] = result["meets_goal_speedup"] and no_dbt
    return result


def _count_tests(setup: Setup) -> int | None:
    graphs = list((setup.project / "target" / "akko").glob("graph-*.json"))
    if not graphs:
        return None
    data = json.loads(graphs[0].read_text())
    return sum(len(n.get("tests", [])) for n in data["nodes"])


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("apache-airflow", "astronomer-cosmos", "dbt-core", "dbt-duckdb")}


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": len(git("status", "--porcelain").splitlines())}


def report(result: dict[str, Any]) -> str:
    settings, per = result["settings"], result["variants"]
    akko = per["akko"]["parse_s"]
    rows = []
    for name, figures in per.items():
        rows.append(
            [
                SHORT[name],
                f"{figures['parse_s']:.3f}",
                figures["parse_s_range"],
                f"{figures['process_s']:.1f}",
                f"{figures['parse_s'] / akko:.2f}",
                figures["spawned_per_parse"],
                figures["dbt_modules_imported"],
                f"{figures['tasks']}/{figures['model_tasks']}",
            ]
        )
    machine = result["machine"]
    setup = result["setup_s"]
    legend = (
        "cosmos dbt ls: DbtDag with RenderConfig() defaults (dbt ls in process, no cache); manifest: "
        "LoadMode.DBT_MANIFEST; cached: dbt ls cache warm. akko preloaded: akko's compiler imported before the "
        "parse (akko dev's airflow_local_settings.py). proc s: the whole process; spawn: child processes started "
        "and dbt: dbt modules imported during the parse; tasks: all/model tasks. Once beforehand: akko's graph "
        f"(akko sync: dbt parse + ls) {setup['akko_graph_build_s']} s; cosmos' manifest (dbt parse) "
        f"{setup['dbt_parse_manifest_s']} s."
    )
    lines = [
        f"dbt step DAG parse, {settings['models']} models and {settings['tests']} tests: a fresh process per "
        "parse,",
        f"DagBag + serialize (s), median of {settings['repeats']} alternating runs",
        f"(load {machine['loadavg_1_5_15_start']} -> {machine['loadavg_1_5_15_end']}, {machine['cpus']} CPUs)",
        table(["", "parse s", "range", "proc s", "/akko", "spawn", "dbt", "tasks"], rows),
        textwrap.fill(legend, 79),
        "",
    ]
    ratio_rows = []
    for a, by in result["speedup"].items():
        for c, value in by.items():
            ratio_rows.append(
                [f"{SHORT[c]} / {SHORT[a]}", f"{value}x", f"{result['speedup_pairs_median'][a][c]}x"]
            )
    lines.append(table(["how many times faster akko parses", "medians", "pairs"], ratio_rows))
    verdict = "meets" if result["meets_goal_speedup"] else "MISSES"
    lines.append(
        f"goal cosmos dbt ls / akko >= {settings['goal_speedup_min']:g}x: {verdict} ({result['speedup_default']}x)"
    )
    lines.append(
        "akko at parse time: "
        + ("no dbt process, no dbt import" if result["akko_no_dbt_at_parse"] else "DBT RAN OR WAS IMPORTED")
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        save = (
            sys.argv[sys.argv.index("--save-cosmos-cache") + 1] if "--save-cosmos-cache" in sys.argv else None
        )
        parse_worker(sys.argv[2], sys.argv[3], save)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh-process parses per variant")
    parser.add_argument("--no-cached", action="store_true", help="skip cosmos with a warm dbt ls cache")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--json", help="where to write the figures (default benchmarks/results/dbt-parse-*.json)"
    )
    args = parser.parse_args()
    result = measure(args.repeats, 200, not args.no_cached, args.keep, args.json)
    print(report(result))
    print(f"figures: {result['json_file']}")


if __name__ == "__main__":
    main()
