-- One row per (as_of_date, user_id, rank): recommendations with what a BI user needs to read
-- them (title, category, price). Items missing from dim_products keep null attributes.
with recommendations as (
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    select * from {{ source_or_empty('serving_outputs', 'recommendations') }} as source_table  -- noqa: AL05
),

products as (
    select * from {{ ref('dim_products') }}
)

select
    cast(recommendations.as_of_date as date) as as_of_date,
    cast(recommendations.user_id as text) as user_id,
    cast(recommendations.rank as bigint) as rank,
    cast(recommendations.item_id as text) as item_id,
    cast(recommendations.score as double precision) as score,
    cast(recommendations.strategy as text) as strategy,
    products.title as item_title,
    products.category as item_category,
    products.brand as item_brand,
    products.list_price as item_list_price,
    cast(recommendations.model_version as text) as model_version,
    cast(recommendations.run_id as text) as run_id,
    cast(recommendations.scored_at as timestamp) as scored_at
from recommendations
left join products on recommendations.item_id = products.product_id
