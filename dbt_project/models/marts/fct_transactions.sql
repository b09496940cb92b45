-- One row per payment attempt.
-- Columns come typed from staging (stg_raw__*), so only derived ones are cast here.
select
    transaction_id,
    order_id,
    user_id,
    amount,
    currency,
    payment_method,
    device_id,
    country,
    ip_hash,
    card_hash,
    is_fraud,
    transaction_at,
    cast(transaction_at as date) as transaction_date,
    is_non_positive_amount,
    extra_features
from {{ ref('stg_raw__transactions') }}
