-- Transactions with upper-cased codes, money as decimal(18, 2) and the calendar day and hour of each.
SELECT
    CAST(txn_id AS bigint) AS txn_id,
    CAST(account_id AS bigint) AS account_id,
    txn_ts,
    CAST(txn_ts AS date) AS txn_date,
    CAST(hour(txn_ts) AS integer) AS txn_hour,
    CAST(amount AS decimal(18, 2)) AS amount,
    trim(merchant) AS merchant,
    upper(trim(merchant_category)) AS merchant_category,
    upper(trim(country)) AS country_code,
    upper(trim(channel)) AS channel,
    upper(trim(status)) AS status
FROM {{ source('banking', 'transactions') }}
