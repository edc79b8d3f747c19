-- Customers with trimmed names and upper-cased codes.
SELECT
    CAST(customer_id AS bigint) AS customer_id,
    trim(full_name) AS full_name,
    upper(trim(country)) AS country_code,
    upper(trim(segment)) AS segment,
    CAST(created_at AS date) AS created_at
FROM {{ source('banking', 'customers') }}
