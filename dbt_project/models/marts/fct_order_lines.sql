-- One row per order line (order_id, line_number).
select
    cast(order_id as text) as order_id,
    cast(line_number as bigint) as line_number,
    cast(user_id as text) as user_id,
    cast(product_id as text) as product_id,
    cast(quantity as bigint) as quantity,
    cast(unit_price as double precision) as unit_price,
    cast(line_amount as double precision) as line_amount,
    cast(is_cancellation as boolean) as is_cancellation,
    cast(ordered_at as timestamp) as ordered_at,
    cast(order_date as date) as order_date,
    cast(currency as text) as currency,
    cast(country as text) as country
from {{ ref('int_order_lines_enriched') }}
