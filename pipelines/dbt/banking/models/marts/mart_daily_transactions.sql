{{
    config(
        materialized='incremental',
        unique_key='txn_date',
        incremental_strategy='merge'
    )
}}
-- One row per calendar day: transaction counts by status and channel, amounts, active accounts. Incremental:
-- a run recomputes the days from the latest day already built (it may have been partial) and merges them on
-- txn_date. Built from stg_transactions only, so a day's row never depends on later days.
SELECT
    txn_date,
    count(*) AS txn_count,
    CAST(count_if(status = 'COMPLETED') AS bigint) AS completed_txn_count,
    CAST(count_if(status = 'DECLINED') AS bigint) AS declined_txn_count,
    CAST(count_if(status = 'PENDING') AS bigint) AS pending_txn_count,
    CAST(count_if(status = 'REVERSED') AS bigint) AS reversed_txn_count,
    CAST(count_if(channel = 'ONLINE') AS bigint) AS online_txn_count,
    CAST(count_if(channel = 'ATM') AS bigint) AS atm_txn_count,
    count(DISTINCT account_id) AS active_accounts,
    CAST(sum(amount) AS decimal(18, 2)) AS total_amount,
    CAST(sum(CASE WHEN status = 'COMPLETED' THEN amount ELSE 0 END) AS decimal(18, 2)) AS completed_amount,
    CAST(max(amount) AS decimal(18, 2)) AS max_amount
FROM {{ ref('stg_transactions') }}
{% if is_incremental() %}
WHERE txn_date >= (SELECT max(txn_date) FROM {{ this }})
{% endif %}
GROUP BY txn_date
