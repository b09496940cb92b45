-- One row per (order_id, line_number). is_cancellation falls back to "negative quantity"
-- when the source does not say (UCI marks cancellations only by the invoice prefix/sign).
with source as (
    select * from {{ source('raw', 'order_lines') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(order_id as text) as order_id,
        cast(line_number as bigint) as line_number,
        cast(user_id as text) as user_id,
        cast(product_id as text) as product_id,
        cast(quantity as bigint) as quantity,
        cast(unit_price as double precision) as unit_price,
        upper(nullif(trim(cast(currency as text)), '')) as currency,
        nullif(trim(cast(country as text)), '') as country,
        coalesce(cast(is_cancellation as boolean), cast(quantity as bigint) < 0) as is_cancellation,
        cast(ordered_at as timestamp) as ordered_at,
        cast(dt as date) as dt,
        cast(hr as integer) as hr,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['order_id', 'line_number'], 'dt desc, hr desc nulls last, ordered_at desc') }}
)

select
    order_id,
    line_number,
    user_id,
    product_id,
    quantity,
    unit_price,
    currency,
    country,
    is_cancellation,
    ordered_at,
    dt,
    hr,
    source_name
from deduped
