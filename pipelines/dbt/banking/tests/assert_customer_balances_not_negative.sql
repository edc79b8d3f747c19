-- No customer's accounts add up to a negative balance (the demo has no overdrafts): returns the failing rows.
SELECT customer_id, total_balance
FROM {{ ref('mart_customer_360') }}
WHERE total_balance < 0
