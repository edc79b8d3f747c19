-- The incremental daily mart adds up to the transactions it summarises (no day lost or counted twice across
-- incremental runs): returns one row if counts or amounts differ.
WITH daily AS (
    SELECT sum(txn_count) AS daily_txn_count, sum(total_amount) AS daily_amount
    FROM {{ ref('mart_daily_transactions') }}
),

txns AS (
    SELECT count(*) AS txn_count, sum(amount) AS txn_amount
    FROM {{ ref('stg_transactions') }}
)

SELECT daily.daily_txn_count, txns.txn_count, daily.daily_amount, txns.txn_amount
FROM daily
CROSS JOIN txns
WHERE daily.daily_txn_count <> txns.txn_count OR daily.daily_amount <> txns.txn_amount
