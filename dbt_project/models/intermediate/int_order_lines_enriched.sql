-- One row per order line with the derived amounts marts and features share, so
-- "what is a line's value" is defined once.
with order_lines as (
    select * from {{ ref('stg_raw__order_lines') }}
)

select
    order_id,
    line_number,
    user_id,
    product_id,
    quantity,
    unit_price,
    cast(quantity * unit_price as double precision) as line_amount,
    currency,
    country,
    is_cancellation,
    ordered_at,
    cast(ordered_at as date) as order_date
from order_lines
