-- Every transaction with its customer and the deterministic fraud rules the marts count:
--   large_vs_average: at least 2,000.00 and more than 5 times the customer's average transaction (all of the
--                     customer's transactions, this one included; compared without division, so exactly);
--   high_risk_country: made in a country the country_risk seed rates HIGH;
--   velocity_burst:   the 5th (or later) transaction of its account within 10 minutes (this one and the 4
--                     before it, ordered by time then id).
-- A country the seed does not list has risk level UNKNOWN (the warn test on stg_transactions reports them).
WITH txns AS (
    SELECT
        t.txn_id,
        t.account_id,
        a.customer_id,
        c.country_code AS home_country_code,
        t.txn_ts,
        t.txn_date,
        t.amount,
        t.merchant,
        t.merchant_category,
        t.country_code,
        t.channel,
        t.status
    FROM {{ ref('stg_transactions') }} AS t
    JOIN {{ ref('stg_accounts') }} AS a ON a.account_id = t.account_id
    JOIN {{ ref('stg_customers') }} AS c ON c.customer_id = a.customer_id
),

windowed AS (
    SELECT
        txn_id,
        account_id,
        customer_id,
        home_country_code,
        txn_ts,
        txn_date,
        amount,
        merchant,
        merchant_category,
        country_code,
        channel,
        status,
        count(*) OVER (PARTITION BY customer_id) AS customer_txn_count,
        sum(amount) OVER (PARTITION BY customer_id) AS customer_total_amount,
        lag(txn_ts, 4) OVER (PARTITION BY account_id ORDER BY txn_ts, txn_id) AS fourth_previous_txn_ts
    FROM txns
),

flagged AS (
    SELECT
        w.txn_id,
        w.account_id,
        w.customer_id,
        w.home_country_code,
        w.txn_ts,
        w.txn_date,
        w.amount,
        w.merchant,
        w.merchant_category,
        w.country_code,
        coalesce(r.country_name, CAST('Unknown' AS varchar)) AS country_name,
        coalesce(r.risk_level, CAST('UNKNOWN' AS varchar)) AS country_risk_level,
        w.channel,
        w.status,
        w.country_code <> w.home_country_code AS is_foreign,
        w.amount >= 2000 AND w.amount * w.customer_txn_count > 5 * w.customer_total_amount AS is_large_vs_average,
        coalesce(r.risk_level = 'HIGH', false) AS is_high_risk_country,
        coalesce(w.fourth_previous_txn_ts >= w.txn_ts - INTERVAL '10' MINUTE, false) AS is_velocity_burst
    FROM windowed AS w
    LEFT JOIN {{ ref('country_risk') }} AS r ON r.country_code = w.country_code
)

SELECT
    txn_id,
    account_id,
    customer_id,
    home_country_code,
    txn_ts,
    txn_date,
    amount,
    merchant,
    merchant_category,
    country_code,
    country_name,
    country_risk_level,
    channel,
    status,
    is_foreign,
    is_large_vs_average,
    is_high_risk_country,
    is_velocity_burst,
    CAST(
        (CASE WHEN is_large_vs_average THEN 1 ELSE 0 END)
        + (CASE WHEN is_high_risk_country THEN 1 ELSE 0 END)
        + (CASE WHEN is_velocity_burst THEN 1 ELSE 0 END)
        AS integer
    ) AS fraud_rule_count,
    is_large_vs_average OR is_high_risk_country OR is_velocity_burst AS is_flagged
FROM flagged
