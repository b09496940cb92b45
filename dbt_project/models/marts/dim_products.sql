-- One row per product. Sources without a products file (clickstreams, order-only shops) still
-- get a product dimension: products seen on events or order lines are included with
-- created_at = first seen and, for events that carry one, the category most recently seen.
-- A listed product keeps its own attributes; derived ones fill only what the listing lacks.
with products as (
    select * from {{ ref('stg_raw__products') }}
),

events as (
    select * from {{ ref('stg_raw__events') }}
),

seen as (
    select
        product_id,
        event_at as seen_at,
        category
    from events
    where product_id is not null
    union all
    select
        product_id,
        ordered_at as seen_at,
        cast(null as text) as category
    from {{ ref('int_order_lines_enriched') }}
    where product_id is not null
),

first_seen as (
    select
        product_id,
        min(seen_at) as first_seen_at
    from seen
    group by product_id
),

latest_category as (
    select
        product_id,
        category
    from (
        select
            product_id,
            category,
            row_number() over (partition by product_id order by seen_at desc, category asc) as category_rank
        from seen
        where category is not null
    ) as ranked
    where category_rank = 1
),

all_products as (
    select product_id from products
    union
    select product_id from first_seen
)

select
    all_products.product_id,
    products.title,
    products.description,
    cast(coalesce(products.category, latest_category.category) as text) as category,
    products.brand,
    products.list_price,
    products.currency,
    cast(coalesce(products.created_at, first_seen.first_seen_at) as timestamp) as created_at,
    cast(products.product_id is null as boolean) as is_derived
from all_products
left join products on all_products.product_id = products.product_id
left join first_seen on all_products.product_id = first_seen.product_id
left join latest_category on all_products.product_id = latest_category.product_id
