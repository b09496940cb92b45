-- One row per (as_of_date, product_id): the price recommendation with what a merchandiser needs
-- to read it (product title, category, brand). Expected units and revenue are per day.
with recommendations as (
    select *
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    from {{ source_or_empty('serving_outputs', 'price_recommendations') }} as source_table  -- noqa: AL05
),

products as (
    select * from {{ ref('dim_products') }}
)

select
    cast(recommendations.as_of_date as date) as as_of_date,
    cast(recommendations.product_id as text) as product_id,
    products.title as product_title,
    coalesce(products.category, recommendations.category) as product_category,
    products.brand as product_brand,
    cast(recommendations.current_price as double precision) as current_price,
    cast(recommendations.recommended_price as double precision) as recommended_price,
    cast(recommendations.price_change_pct as double precision) as price_change_pct,
    cast(recommendations.elasticity as double precision) as elasticity,
    cast(recommendations.elasticity_se as double precision) as elasticity_se,
    cast(recommendations.expected_units_current as double precision) as expected_units_current,
    cast(recommendations.expected_units_recommended as double precision) as expected_units_recommended,
    cast(recommendations.expected_revenue_current as double precision) as expected_revenue_current,
    cast(recommendations.expected_revenue_recommended as double precision) as expected_revenue_recommended,
    cast(recommendations.objective as text) as objective,
    cast(recommendations.action as text) as action,
    cast(recommendations.reason as text) as reason,
    cast(recommendations.model_version as text) as model_version,
    cast(recommendations.run_id as text) as run_id,
    cast(recommendations.scored_at as timestamp) as scored_at
from recommendations
left join products on recommendations.product_id = products.product_id
