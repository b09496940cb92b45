-- One row per (as_of_date, product_id): the replenishment action with what a merchandiser needs
-- to act on it (product title, category, brand). Units throughout; demand_mean/demand_std are
-- over the protection period (lead time + review period, protection_days).
with actions as (
    select *
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    from {{ source_or_empty('serving_outputs', 'inventory_actions') }} as source_table  -- noqa: AL05
),

products as (
    select * from {{ ref('dim_products') }}
)

select
    cast(actions.as_of_date as date) as as_of_date,
    cast(actions.product_id as text) as product_id,
    products.title as product_title,
    coalesce(products.category, actions.category) as product_category,
    products.brand as product_brand,
    cast(actions.action as text) as action,
    cast(actions.order_quantity as double precision) as order_quantity,
    cast(actions.reason as text) as reason,
    cast(actions.stock_on_hand as double precision) as stock_on_hand,
    cast(actions.on_order as double precision) as on_order,
    cast(actions.inventory_position as double precision) as inventory_position,
    cast(actions.lead_time_days as bigint) as lead_time_days,
    cast(actions.review_days as bigint) as review_days,
    cast(actions.protection_days as bigint) as protection_days,
    cast(actions.pack_size as bigint) as pack_size,
    cast(actions.moq as bigint) as moq,
    cast(actions.demand_mean as double precision) as demand_mean,
    cast(actions.demand_std as double precision) as demand_std,
    cast(actions.service_level as double precision) as service_level,
    cast(actions.safety_stock as double precision) as safety_stock,
    cast(actions.reorder_point as double precision) as reorder_point,
    cast(actions.p_stockout as double precision) as p_stockout,
    cast(actions.days_of_cover as double precision) as days_of_cover,
    cast(actions.demand_source as text) as demand_source,
    cast(actions.policy as text) as policy,
    cast(actions.model_version as text) as model_version,
    cast(actions.run_id as text) as run_id,
    cast(actions.scored_at as timestamp) as scored_at
from actions
left join products on actions.product_id = products.product_id
