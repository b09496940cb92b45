-- One row per order line (order_id, line_number).
-- Columns come typed from staging and int_order_lines_enriched: no casts here.
select
    order_id,
    line_number,
    user_id,
    product_id,
    quantity,
    unit_price,
    line_amount,
    is_cancellation,
    ordered_at,
    order_date,
    currency,
    country
from {{ ref('int_order_lines_enriched') }}
