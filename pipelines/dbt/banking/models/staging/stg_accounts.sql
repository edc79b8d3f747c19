-- Accounts with upper-cased codes and money as decimal(18, 2).
SELECT
    CAST(account_id AS bigint) AS account_id,
    CAST(customer_id AS bigint) AS customer_id,
    upper(trim(account_type)) AS account_type,
    upper(trim(currency)) AS currency,
    CAST(opened_at AS date) AS opened_at,
    CAST(balance AS decimal(18, 2)) AS balance
FROM {{ source('banking', 'accounts') }}
