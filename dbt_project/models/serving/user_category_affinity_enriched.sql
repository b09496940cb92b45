-- One row per (as_of_date, user_id, category): a user's affinity for a product category, ranked,
-- with the number of products of that category the catalogue lists (what a boost can reach).
with affinity as (
    select *
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    from {{ source_or_empty('serving_outputs', 'user_category_affinity') }} as source_table  -- noqa: AL05
),

category_sizes as (
    select
        category,
        count(*) as n_products
    from {{ ref('dim_products') }}
    where category is not null
    group by category
)

select
    cast(affinity.as_of_date as date) as as_of_date,
    cast(affinity.user_id as text) as user_id,
    cast(affinity.category as text) as category,
    cast(affinity.rank as bigint) as rank,
    cast(affinity.affinity as double precision) as affinity,
    cast(affinity.lift as double precision) as lift,
    cast(affinity.n_interactions as bigint) as n_interactions,
    cast(coalesce(category_sizes.n_products, 0) as bigint) as category_n_products,
    cast(affinity.model_version as text) as model_version,
    cast(affinity.run_id as text) as run_id,
    cast(affinity.scored_at as timestamp) as scored_at
from affinity
left join category_sizes on affinity.category = category_sizes.category
