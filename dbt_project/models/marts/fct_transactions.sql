-- One row per payment attempt.
select
    cast(transaction_id as text) as transaction_id,
    cast(order_id as text) as order_id,
    cast(user_id as text) as user_id,
    cast(amount as double precision) as amount,
    cast(currency as text) as currency,
    cast(payment_method as text) as payment_method,
    cast(device_id as text) as device_id,
    cast(country as text) as country,
    cast(ip_hash as text) as ip_hash,
    cast(card_hash as text) as card_hash,
    cast(is_fraud as boolean) as is_fraud,
    cast(transaction_at as timestamp) as transaction_at,
    cast(transaction_at as date) as transaction_date,
    cast(is_non_positive_amount as boolean) as is_non_positive_amount,
    cast(extra_features as text) as extra_features
from {{ ref('stg_raw__transactions') }}
