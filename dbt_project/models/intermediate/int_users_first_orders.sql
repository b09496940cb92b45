-- One row per user that appears on any order line: first (non-cancelled) order time and
-- number of distinct non-cancelled orders. Cancellation lines never count as an order.
with order_lines as (
    select * from {{ ref('int_order_lines_enriched') }}
)

select
    user_id,
    min(case when not is_cancellation then ordered_at end) as first_order_at,
    min(ordered_at) as first_seen_at,
    cast(count(distinct case when not is_cancellation then order_id end) as bigint) as n_orders
from order_lines
where user_id is not null
group by user_id
