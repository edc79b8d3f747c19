"""Python steps of the banking fraud demo: fake customers, accounts and card transactions, with fraud patterns.

`generate_banking` lands the three tables as Parquet in the object store (raw/banking/*.parquet), where the
embedded profile ingests them into Iceberg; `seed_postgres` writes the same rows into the operational PostgreSQL
(akko.raw_customers, akko.raw_accounts, akko.raw_transactions), which the cluster profile replicates. The data is
a pure function of (transactions, customers, seed): no clock, no global random state, base date 2026-01-01.

Fraud patterns planted in the transactions (the dbt marts find them with simple rules):
- large amounts: a few purchases far above what the customer usually spends;
- high-risk countries: card use in a country the `country_risk` seed rates HIGH (some with a large amount);
- bursts: six online purchases on one account within a few minutes;
- a handful of transactions in a country code the seed does not know (`ZZ`), which a dbt test warns about.
A few code values carry stray spaces or lower case, which the staging models clean.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import random
from typing import Any

import pyarrow as pa

BASE_DATE = dt.date(2026, 1, 1)
BASE_TS = dt.datetime(2026, 1, 1)
TXN_DAYS = 90  # transactions fall in [2026-01-01, 2026-04-01)
EPOCH_DATE = dt.date(1970, 1, 1)
BASE_US = int((BASE_TS - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000
BASE_DAY = (BASE_DATE - EPOCH_DATE).days

# Home country -> (weight among customers, account currency).
HOME_COUNTRIES = {
    "DE": (22, "EUR"),
    "FR": (18, "EUR"),
    "NL": (10, "EUR"),
    "ES": (10, "EUR"),
    "IT": (10, "EUR"),
    "GB": (8, "GBP"),
    "BE": (6, "EUR"),
    "PL": (5, "PLN"),
    "CH": (4, "CHF"),
    "PT": (3, "EUR"),
    "SE": (2, "SEK"),
    "IE": (2, "EUR"),
}
TRAVEL_COUNTRIES = ["US", "CA", "JP", "AE", "TR", "MX", "ZA"]  # abroad, rated LOW or MEDIUM by the seed
HIGH_RISK_COUNTRIES = ["IR", "KP", "MM"]  # rated HIGH by seeds/country_risk.csv
UNKNOWN_COUNTRY = "ZZ"  # not in the seed: the dbt relationships test on it warns

SEGMENTS = {"RETAIL": 70, "PREMIUM": 15, "BUSINESS": 10, "STUDENT": 5}
FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Karin", "Luca",
    "Maria", "Noah", "Olivia", "Pablo", "Quentin", "Rosa", "Sven", "Tara", "Umar", "Vera", "Willem", "Yara",
]  # fmt: skip
LAST_NAMES = [
    "Schmidt", "Martin", "de Vries", "Garcia", "Rossi", "Smith", "Peeters", "Nowak", "Meier", "Silva",
    "Andersson", "Murphy", "Fischer", "Bernard", "Jansen", "Lopez", "Bianchi", "Jones", "Maes", "Kowalski",
]  # fmt: skip

# Account type -> (accounts weight, median balance, log-spread of the balance).
ACCOUNT_TYPES = {
    "CHECKING": (60, 2_500.0, 1.0),
    "SAVINGS": (30, 12_000.0, 1.2),
    "INVESTMENT": (10, 40_000.0, 1.1),
}
ACCOUNTS_PER_CUSTOMER = {1: 50, 2: 35, 3: 15}

# Merchant category -> (transactions weight, median amount, log-spread, merchants, channel weights).
CHANNELS = ["CARD_PRESENT", "CONTACTLESS", "ONLINE", "ATM"]
CATEGORIES: dict[str, tuple[int, float, float, list[str], list[int]]] = {
    "GROCERIES": (30, 45.0, 0.6, ["FreshMart", "Green Basket", "City Grocer", "Daily Foods"], [40, 55, 5, 0]),
    "RESTAURANTS": (18, 35.0, 0.7, ["Bella Pasta", "Sushi Corner", "Burger Lab", "Cafe Central"], [45, 45, 10, 0]),
    "FUEL": (10, 60.0, 0.4, ["PetroMax", "FuelUp"], [60, 40, 0, 0]),
    "ENTERTAINMENT": (10, 25.0, 0.7, ["StreamBox", "CinemaCity", "GameVault"], [10, 20, 70, 0]),
    "UTILITIES": (8, 90.0, 0.5, ["PowerGrid Energy", "AquaNet Water", "TelcoOne"], [0, 0, 100, 0]),
    "ELECTRONICS": (7, 250.0, 1.0, ["TechHub", "Gadget World", "PixelStore"], [40, 10, 50, 0]),
    "TRAVEL": (5, 350.0, 0.9, ["SkyJet Airlines", "RailLink", "StayWell Hotels", "GoCar Rentals"], [20, 10, 70, 0]),
    "CASH": (12, 120.0, 0.6, ["ATM Network"], [0, 0, 0, 100]),
}  # fmt: skip
STATUSES = {"COMPLETED": 950, "DECLINED": 30, "PENDING": 15, "REVERSED": 5}

CUSTOMER_SCHEMA = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("full_name", pa.string()),
        ("country", pa.string()),
        ("segment", pa.string()),
        ("created_at", pa.date32()),
    ]
)
ACCOUNT_SCHEMA = pa.schema(
    [
        ("account_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("account_type", pa.string()),
        ("currency", pa.string()),
        ("opened_at", pa.date32()),
        ("balance", pa.decimal128(18, 2)),
    ]
)
TRANSACTION_SCHEMA = pa.schema(
    [
        ("txn_id", pa.int64()),
        ("account_id", pa.int64()),
        ("txn_ts", pa.timestamp("us")),
        ("amount", pa.decimal128(18, 2)),
        ("merchant", pa.string()),
        ("merchant_category", pa.string()),
        ("country", pa.string()),
        ("channel", pa.string()),
        ("status", pa.string()),
    ]
)
RAW_KEYS = {
    "customers": "raw/banking/customers.parquet",
    "accounts": "raw/banking/accounts.parquet",
    "transactions": "raw/banking/transactions.parquet",
}


# ---------------------------------------------------------------------------------------------------------------
# Step functions


def generate_banking(ctx, transactions: int = 100_000, customers: int = 2_000, seed: int = 42) -> dict:
    """Generate the demo's customers, accounts and transactions and land them as Parquet under raw/banking/."""
    import pyarrow.parquet as pq

    tables = banking_tables(transactions=transactions, customers=customers, seed=seed)
    result: dict[str, Any] = {}
    for name, table in tables.items():
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        result[name] = {
            "rows": table.num_rows,
            "path": ctx.object_store.write_bytes(RAW_KEYS[name], buffer.getvalue()),
        }
    return result


def seed_postgres(
    ctx,
    conn_id: str = "akko_operational",
    schema: str = "akko",
    transactions: int = 100_000,
    customers: int = 2_000,
    seed: int = 42,
) -> dict:
    """Write the same data into the operational PostgreSQL: `<schema>.raw_customers`, `raw_accounts` and
    `raw_transactions` are created if missing and their content replaced, in one transaction (COPY)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    ctx.allow_connection(conn_id)  # the hook fetches the connection itself: the team's `connections` first
    tables = banking_tables(transactions=transactions, customers=customers, seed=seed)
    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    try:
        with conn.cursor() as cur:
            _replace_tables(cur, schema, tables)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return {name: {"rows": table.num_rows, "table": f"{schema}.raw_{name}"} for name, table in tables.items()}


# ---------------------------------------------------------------------------------------------------------------
# The data


def banking_tables(
    transactions: int = 100_000, customers: int = 2_000, seed: int = 42
) -> dict[str, pa.Table]:
    """customers, accounts and transactions as Arrow tables: the same for the same arguments, on any machine."""
    if customers < 1 or transactions < 1:
        raise ValueError("customers and transactions must be at least 1")
    rng = random.Random(seed)
    customer_table = _customers(rng, customers)
    account_table = _accounts(rng, customer_table)
    transaction_table = _transactions(rng, transactions, customer_table, account_table)
    return {"customers": customer_table, "accounts": account_table, "transactions": transaction_table}


def _customers(rng: random.Random, count: int) -> pa.Table:
    countries = rng.choices(list(HOME_COUNTRIES), [w for w, _ in HOME_COUNTRIES.values()], k=count)
    segments = rng.choices(list(SEGMENTS), list(SEGMENTS.values()), k=count)
    names = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(count)]
    created = [BASE_DAY - rng.randrange(30, 3_650) for _ in range(count)]
    _add_noise(rng, segments, 0.02)
    return pa.table(
        [
            pa.array(range(1, count + 1), pa.int64()),
            pa.array(names, pa.string()),
            pa.array(countries, pa.string()),
            pa.array(segments, pa.string()),
            pa.array(created, pa.int32()).cast(pa.date32()),
        ],
        schema=CUSTOMER_SCHEMA,
    )


def _accounts(rng: random.Random, customers: pa.Table) -> pa.Table:
    customer_ids = customers.column("customer_id").to_pylist()
    countries = customers.column("country").to_pylist()
    created = customers.column("created_at").cast(pa.int32()).to_pylist()
    per_customer = rng.choices(
        list(ACCOUNTS_PER_CUSTOMER), list(ACCOUNTS_PER_CUSTOMER.values()), k=len(customer_ids)
    )
    owner, currency, opened = [], [], []
    for customer_id, country, created_day, n in zip(
        customer_ids, countries, created, per_customer, strict=True
    ):
        for _ in range(n):
            owner.append(customer_id)
            currency.append(HOME_COUNTRIES[country][1])
            opened.append(rng.randint(created_day, BASE_DAY - 1))
    count = len(owner)
    types = rng.choices(list(ACCOUNT_TYPES), [w for w, _, _ in ACCOUNT_TYPES.values()], k=count)
    balances = [_cents(rng, ACCOUNT_TYPES[t][1], ACCOUNT_TYPES[t][2]) for t in types]
    for i in rng.sample(range(count), k=max(1, count // 50)):  # emptied accounts
        balances[i] = 0
    _add_noise(rng, currency, 0.01)
    return pa.table(
        [
            pa.array(range(100_001, 100_001 + count), pa.int64()),
            pa.array(owner, pa.int64()),
            pa.array(types, pa.string()),
            pa.array(currency, pa.string()),
            pa.array(opened, pa.int32()).cast(pa.date32()),
            _decimal(balances),
        ],
        schema=ACCOUNT_SCHEMA,
    )


def _transactions(rng: random.Random, count: int, customers: pa.Table, accounts: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    home = dict(
        zip(customers.column("customer_id").to_pylist(), customers.column("country").to_pylist(), strict=True)
    )
    account_ids = accounts.column("account_id").to_pylist()
    account_country = [home[c] for c in accounts.column("customer_id").to_pylist()]
    # Some accounts are busy, most are not (heavy-tailed activity); cumulative weights make choices() a bisect.
    cumulative = list(itertools.accumulate(rng.paretovariate(1.2) for _ in account_ids))

    n_large = min(count // 400, 1_000)
    n_high_risk = min(count // 500, 1_000)
    n_bursts = min(count // 2_500, 200)
    n_unknown = 5 if count >= 1_000 else 0
    n_normal = count - n_large - n_high_risk - 6 * n_bursts - n_unknown

    cols: dict[str, list[Any]] = {
        k: [] for k in ("account", "us", "cents", "merchant", "cat", "country", "channel")
    }

    def add(
        account: int, at_us: int, cents: int, category: str, merchant: str, country: str, channel: str
    ) -> None:
        cols["account"].append(account_ids[account])
        cols["us"].append(at_us)
        cols["cents"].append(cents)
        cols["cat"].append(category)
        cols["merchant"].append(merchant)
        cols["country"].append(country)
        cols["channel"].append(channel)

    window_s = TXN_DAYS * 86_400
    # Ordinary transactions, one merchant category at a time (each column drawn in one call where random
    # allows it); the table is sorted by time at the end, so the generation order only breaks exact ties.
    names = list(CATEGORIES)
    picked = rng.choices(names, [CATEGORIES[c][0] for c in names], k=n_normal)
    random_, gauss, exp, travel = rng.random, rng.gauss, math.exp, TRAVEL_COUNTRIES
    for category in names:
        k = picked.count(category)
        _, median, spread, merchants, channel_weights = CATEGORIES[category]
        accounts_k = rng.choices(range(len(account_ids)), cum_weights=cumulative, k=k)
        cols["account"] += [account_ids[a] for a in accounts_k]
        cols["us"] += [BASE_US + int(random_() * window_s) * 1_000_000 for _ in range(k)]
        cols["cents"] += [max(100, round(median * exp(spread * gauss(0.0, 1.0)) * 100)) for _ in range(k)]
        cols["cat"] += [category] * k
        cols["merchant"] += rng.choices(merchants, k=k)
        cols["country"] += [travel[int(random_() * len(travel))] if random_() < 0.04 else account_country[a]
                            for a in accounts_k]  # fmt: skip
        cols["channel"] += rng.choices(CHANNELS, channel_weights, k=k)

    # Fraud pattern 1: purchases far above the customer's usual spending.
    for _ in range(n_large):
        account = rng.randrange(len(account_ids))
        category = rng.choice(["ELECTRONICS", "TRAVEL"])
        add(
            account,
            BASE_US + rng.randrange(window_s) * 1_000_000,
            rng.randrange(2_500_00, 9_500_00),
            category,
            rng.choice(CATEGORIES[category][3]),
            account_country[account],
            "ONLINE",
        )
    # Fraud pattern 2: card use in a high-risk country, a quarter of them large amounts too (two rules at once).
    for _ in range(n_high_risk):
        account = rng.randrange(len(account_ids))
        category = rng.choice(["ELECTRONICS", "CASH", "TRAVEL", "RESTAURANTS"])
        large = rng.random() < 0.25
        add(
            account,
            BASE_US + rng.randrange(window_s) * 1_000_000,
            rng.randrange(2_500_00, 9_500_00) if large else _cents(rng, CATEGORIES[category][1], 0.5),
            category,
            rng.choice(CATEGORIES[category][3]),
            rng.choice(HIGH_RISK_COUNTRIES),
            "ATM" if category == "CASH" else "CARD_PRESENT",
        )
    # Fraud pattern 3: a burst of six online purchases on one account within a few minutes.
    for _ in range(n_bursts):
        account = rng.randrange(len(account_ids))
        at_s = rng.randrange(window_s - 3_600)
        for _ in range(6):
            at_s += rng.randrange(15, 90)
            category = rng.choice(["ELECTRONICS", "ENTERTAINMENT"])
            add(
                account,
                BASE_US + at_s * 1_000_000,
                rng.randrange(50_00, 400_00),
                category,
                rng.choice(CATEGORIES[category][3]),
                account_country[account],
                "ONLINE",
            )
    # Not fraud, bad reference data: a country code the risk seed does not list.
    for _ in range(n_unknown):
        account = rng.randrange(len(account_ids))
        add(account, BASE_US + rng.randrange(window_s) * 1_000_000, _cents(rng, 40.0, 0.5), "GROCERIES",
            "FreshMart", UNKNOWN_COUNTRY, "CARD_PRESENT")  # fmt: skip

    statuses = rng.choices(list(STATUSES), list(STATUSES.values()), k=count)
    channels = cols["channel"]
    _add_noise(rng, channels, 0.01)
    _add_noise(rng, statuses, 0.01)
    unsorted = pa.table(
        [
            pa.array(cols["account"], pa.int64()),
            pa.array(cols["us"], pa.int64()).cast(pa.timestamp("us")),
            _decimal(cols["cents"]),
            pa.array(cols["merchant"], pa.string()),
            pa.array(cols["cat"], pa.string()),
            pa.array(cols["country"], pa.string()),
            pa.array(channels, pa.string()),
            pa.array(statuses, pa.string()),
        ],
        names=TRANSACTION_SCHEMA.names[1:],
    )
    # Ids in time order (ties: account, then generation order, which sort_indices keeps: it is stable).
    ordered = unsorted.take(pc.sort_indices(unsorted, [("txn_ts", "ascending"), ("account_id", "ascending")]))
    ids = pa.array(range(1, count + 1), pa.int64())
    return ordered.add_column(0, "txn_id", ids).cast(TRANSACTION_SCHEMA)


def _cents(rng: random.Random, median: float, spread: float) -> int:
    """A log-normal amount around `median`, in cents, at least 1.00."""
    return max(100, round(median * math.exp(spread * rng.gauss(0.0, 1.0)) * 100))


def _decimal(cents: list[int]) -> pa.Array:
    """decimal(18, 2) from integer cents, without a Decimal object per value: decimal(19, 0) (what int64 casts to)
    has the same unscaled 128-bit integers, so its buffers are reinterpreted with scale 2 (all far below 10^16)."""
    unscaled = pa.array(cents, pa.int64()).cast(pa.decimal128(19, 0))
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(unscaled), unscaled.buffers(), unscaled.null_count)


def _add_noise(rng: random.Random, values: list[str], share: float) -> None:
    """Dirty a share of code values in place (lower case, stray spaces), as operational data often is."""
    for i in rng.sample(range(len(values)), k=int(len(values) * share)):
        values[i] = rng.choice([values[i].lower(), f" {values[i]}", f"{values[i]} ", values[i].title()])


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL

PG_TYPES = {
    "customers": {"customer_id": "bigint PRIMARY KEY", "full_name": "text NOT NULL", "country": "text NOT NULL",
                  "segment": "text NOT NULL", "created_at": "date NOT NULL"},
    "accounts": {"account_id": "bigint PRIMARY KEY", "customer_id": "bigint NOT NULL", "account_type": "text NOT NULL",
                 "currency": "text NOT NULL", "opened_at": "date NOT NULL", "balance": "numeric(18, 2) NOT NULL"},
    "transactions": {"txn_id": "bigint PRIMARY KEY", "account_id": "bigint NOT NULL",
                     "txn_ts": "timestamp(6) without time zone NOT NULL", "amount": "numeric(18, 2) NOT NULL",
                     "merchant": "text NOT NULL", "merchant_category": "text NOT NULL", "country": "text NOT NULL",
                     "channel": "text NOT NULL", "status": "text NOT NULL"},
}  # fmt: skip


def _replace_tables(cur: Any, schema: str, tables: dict[str, pa.Table]) -> None:
    """Create the tables if missing, empty them and COPY the rows in (psycopg 3 or psycopg2 cursor)."""
    import pyarrow.csv as pacsv

    cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for name, columns in PG_TYPES.items():
        body = ", ".join(f'"{column}" {kind}' for column, kind in columns.items())
        cur.execute(f'CREATE TABLE IF NOT EXISTS "{schema}"."raw_{name}" ({body})')
    cur.execute(", ".join(f'"{schema}"."raw_{name}"' for name in PG_TYPES).join(["TRUNCATE ", ""]))
    for name, table in tables.items():
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        data = buffer.getvalue()
        copy = f'COPY "{schema}"."raw_{name}" ({", ".join(table.column_names)}) FROM STDIN WITH (FORMAT csv)'
        if hasattr(cur, "copy_expert"):  # psycopg2
            cur.copy_expert(copy, io.BytesIO(data))
        else:  # psycopg 3
            with cur.copy(copy) as writer:
                writer.write(data)
