-- One row per (product_id, store_id, sales_date) that sold anything: non-cancelled order
-- lines summed per day (store 'all') plus the source's daily totals (returns stay negative).
-- Sparse on purpose: the forecaster reads the whole history from here and zero-fills the
-- days without a row, so the mart grows with sales, not with products x days.
with lines as (
    select
        product_id,
        'all' as store_id,
        order_date as sales_date,
        sum(cast(quantity as double precision)) as units,
        sum(line_amount) as revenue,
        sum(case when unit_price is not null then cast(quantity as double precision) end) as priced_units,
        count(distinct order_id) as n_orders,
        false as is_promo
    from {{ ref('fct_order_lines') }}
    where not is_cancellation
    group by product_id, order_date
),

totals as (
    select
        product_id,
        store_id,
        sales_date,
        units,
        coalesce(revenue, units * price) as revenue,
        case when coalesce(revenue, units * price) is not null then units end as priced_units,
        cast(0 as bigint) as n_orders,
        is_promo
    from {{ ref('stg_raw__daily_sales') }}
),

unioned as (
    select * from lines
    union all
    select * from totals
)

select
    cast(product_id as text) as product_id,
    cast(store_id as text) as store_id,
    cast(sales_date as date) as sales_date,
    cast(sum(units) as double precision) as units,
    cast(sum(revenue) as double precision) as revenue,
    cast(case when sum(priced_units) > 0 then sum(revenue) / sum(priced_units) end as double precision)
        as avg_price,
    cast(sum(n_orders) as bigint) as n_orders,
    cast(max(case when is_promo then 1 else 0 end) = 1 as boolean) as is_promo
from unioned
group by product_id, store_id, sales_date
