-- One row per transaction_id: the copy from the latest partition wins.
with source as (
    select * from {{ source('raw', 'transactions') }}
    {{ as_of_filter() }}
),

renamed as (
    select
        cast(transaction_id as text) as transaction_id,
        cast(order_id as text) as order_id,
        cast(user_id as text) as user_id,
        cast(amount as double precision) as amount,
        upper(nullif(trim(cast(currency as text)), '')) as currency,
        nullif(lower(trim(cast(payment_method as text))), '') as payment_method,
        cast(device_id as text) as device_id,
        nullif(trim(cast(country as text)), '') as country,
        cast(ip_hash as text) as ip_hash,
        cast(card_hash as text) as card_hash,
        cast(is_fraud as boolean) as is_fraud,
        cast(transaction_at as timestamp) as transaction_at,
        -- kept, not quarantined: zero-amount authorisations are a card-testing signal (loader sets the flag)
        coalesce(
            {{ optional_column(source('raw', 'transactions'), 'is_non_positive_amount', 'boolean') }},
            cast(amount as double precision) <= 0
        ) as is_non_positive_amount,
        -- the shop's own signals declared in the mapping (`features:`), a JSON object as text
        {{ optional_column(source('raw', 'transactions'), 'extra_features', 'text') }} as extra_features,
        cast(dt as date) as dt,
        cast(hr as integer) as hr,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['transaction_id'], 'dt desc, hr desc nulls last, transaction_at desc') }}
)

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
    is_non_positive_amount,
    extra_features,
    dt,
    hr,
    source_name
from deduped
