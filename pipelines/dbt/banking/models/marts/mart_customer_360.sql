-- One row per customer: accounts and balances, transaction counts and amounts, first and last transaction, and
-- risk flags from the fraud rules of int_transactions_scored. Customers without accounts or transactions are
-- kept (zero counts, NULL first/last transaction). Balances are summed as booked, in the accounts' currencies.
WITH accounts AS (
    SELECT
        customer_id,
        count(*) AS account_count,
        sum(balance) AS total_balance,
        min(opened_at) AS first_account_opened_at
    FROM {{ ref('stg_accounts') }}
    GROUP BY customer_id
),

txns AS (
    SELECT
        customer_id,
        count(*) AS txn_count,
        count_if(status = 'COMPLETED') AS completed_txn_count,
        count_if(status = 'DECLINED') AS declined_txn_count,
        sum(CASE WHEN status = 'COMPLETED' THEN amount ELSE 0 END) AS completed_amount,
        max(amount) AS max_txn_amount,
        min(txn_ts) AS first_txn_ts,
        max(txn_ts) AS last_txn_ts,
        count(DISTINCT country_code) AS txn_country_count,
        count_if(is_foreign) AS foreign_txn_count,
        count_if(is_flagged) AS flagged_txn_count,
        count_if(is_large_vs_average) AS large_vs_average_txn_count,
        count_if(is_high_risk_country) AS high_risk_country_txn_count,
        count_if(is_velocity_burst) AS velocity_burst_txn_count
    FROM {{ ref('int_transactions_scored') }}
    GROUP BY customer_id
),

joined AS (
    SELECT
        c.customer_id,
        c.full_name,
        c.country_code,
        c.segment,
        c.created_at,
        CAST(coalesce(a.account_count, 0) AS bigint) AS account_count,
        CAST(coalesce(a.total_balance, 0) AS decimal(18, 2)) AS total_balance,
        a.first_account_opened_at,
        CAST(coalesce(t.txn_count, 0) AS bigint) AS txn_count,
        CAST(coalesce(t.completed_txn_count, 0) AS bigint) AS completed_txn_count,
        CAST(coalesce(t.declined_txn_count, 0) AS bigint) AS declined_txn_count,
        CAST(coalesce(t.completed_amount, 0) AS decimal(18, 2)) AS completed_amount,
        CAST(t.max_txn_amount AS decimal(18, 2)) AS max_txn_amount,
        t.first_txn_ts,
        t.last_txn_ts,
        date_diff('day', CAST(t.first_txn_ts AS date), CAST(t.last_txn_ts AS date)) AS active_days,
        CAST(coalesce(t.txn_country_count, 0) AS bigint) AS txn_country_count,
        CAST(coalesce(t.foreign_txn_count, 0) AS bigint) AS foreign_txn_count,
        CAST(coalesce(t.flagged_txn_count, 0) AS bigint) AS flagged_txn_count,
        CAST(coalesce(t.large_vs_average_txn_count, 0) AS bigint) AS large_vs_average_txn_count,
        CAST(coalesce(t.high_risk_country_txn_count, 0) AS bigint) AS high_risk_country_txn_count,
        CAST(coalesce(t.velocity_burst_txn_count, 0) AS bigint) AS velocity_burst_txn_count
    FROM {{ ref('stg_customers') }} AS c
    LEFT JOIN accounts AS a ON a.customer_id = c.customer_id
    LEFT JOIN txns AS t ON t.customer_id = c.customer_id
)

SELECT
    customer_id,
    full_name,
    country_code,
    segment,
    created_at,
    account_count,
    total_balance,
    first_account_opened_at,
    txn_count,
    completed_txn_count,
    declined_txn_count,
    completed_amount,
    max_txn_amount,
    first_txn_ts,
    last_txn_ts,
    active_days,
    txn_country_count,
    foreign_txn_count,
    flagged_txn_count,
    large_vs_average_txn_count,
    high_risk_country_txn_count,
    velocity_burst_txn_count,
    large_vs_average_txn_count > 0 AS has_large_vs_average_txn,
    high_risk_country_txn_count > 0 AS has_high_risk_country_txn,
    velocity_burst_txn_count > 0 AS has_velocity_burst,
    txn_count = 0 AS is_inactive,
    CAST(
        CASE
            WHEN flagged_txn_count >= 3
                OR (CASE WHEN large_vs_average_txn_count > 0 THEN 1 ELSE 0 END)
                    + (CASE WHEN high_risk_country_txn_count > 0 THEN 1 ELSE 0 END)
                    + (CASE WHEN velocity_burst_txn_count > 0 THEN 1 ELSE 0 END) >= 2
                THEN 'HIGH'
            WHEN flagged_txn_count > 0 THEN 'MEDIUM'
            ELSE 'LOW'
        END AS varchar
    ) AS risk_tier
FROM joined
