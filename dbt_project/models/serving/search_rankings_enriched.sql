-- One row per (as_of_date, segment, query, rank): the ranked products a search engine serves for a
-- frequent query to a user segment, with what a merchandiser needs to read them (title, category,
-- brand, price). Products missing from dim_products keep null attributes.
with rankings as (
    select *
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    from {{ source_or_empty('serving_outputs', 'search_rankings') }} as source_table  -- noqa: AL05
),

products as (
    select * from {{ ref('dim_products') }}
)

select
    cast(rankings.as_of_date as date) as as_of_date,
    cast(rankings.segment as text) as segment,
    cast(rankings.query as text) as query,
    cast(rankings.rank as bigint) as rank,
    cast(rankings.product_id as text) as product_id,
    products.title as product_title,
    products.category as product_category,
    products.brand as product_brand,
    products.list_price as product_list_price,
    cast(rankings.score as double precision) as score,
    cast(rankings.model_version as text) as model_version,
    cast(rankings.run_id as text) as run_id,
    cast(rankings.scored_at as timestamp) as scored_at
from rankings
left join products on rankings.product_id = products.product_id
