-- Per transaction country and merchant category: transactions, the ones the fraud rules of
-- int_transactions_scored flag (in total and per rule), their amounts, and the flagged share in basis points
-- (rounded down: an exact integer on both engines).
SELECT
    country_code,
    country_name,
    country_risk_level,
    merchant_category,
    count(*) AS txn_count,
    count(DISTINCT customer_id) AS customer_count,
    CAST(count_if(is_flagged) AS bigint) AS flagged_txn_count,
    CAST(count_if(is_large_vs_average) AS bigint) AS large_vs_average_txn_count,
    CAST(count_if(is_high_risk_country) AS bigint) AS high_risk_country_txn_count,
    CAST(count_if(is_velocity_burst) AS bigint) AS velocity_burst_txn_count,
    CAST(count_if(fraud_rule_count >= 2) AS bigint) AS multi_rule_txn_count,
    CAST(sum(amount) AS decimal(18, 2)) AS total_amount,
    CAST(coalesce(sum(CASE WHEN is_flagged THEN amount END), 0) AS decimal(18, 2)) AS flagged_amount,
    CAST(
        floor(CAST(10000 * count_if(is_flagged) AS double) / CAST(count(*) AS double)) AS bigint
    ) AS flagged_share_bp
FROM {{ ref('int_transactions_scored') }}
GROUP BY country_code, country_name, country_risk_level, merchant_category
