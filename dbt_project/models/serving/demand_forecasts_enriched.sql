-- One row per (as_of_date, item_id, forecast_date): the demand forecasts with what a BI user
-- needs to read them (product title, category, brand, the store of a store-level series).
-- item_id is the forecaster's series key: the product, or `product@location` when the source
-- has locations (tasks/score/demand_forecasts.py). A key that is itself a listed product is
-- never split, so product ids containing '@' stay whole.
with forecasts as (
    select
        item_id,
        forecast_date,
        p10,
        p50,
        p90,
        -- Tables written before the scorer published prices lack the column.
        {{ optional_column(source('serving_outputs', 'demand_forecasts'), 'price_p50', 'double precision') }}
            as price_p50,
        as_of_date,
        model_version,
        run_id,
        scored_at
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    from {{ source_or_empty('serving_outputs', 'demand_forecasts') }} as source_table  -- noqa: AL05
),

products as (
    select * from {{ ref('dim_products') }}
),

keyed as (
    select
        forecasts.*,
        case
            when listed.product_id is not null or strpos(forecasts.item_id, '@') = 0 then forecasts.item_id
            else substr(forecasts.item_id, 1, strpos(forecasts.item_id, '@') - 1)
        end as product_id,
        case
            when listed.product_id is null and strpos(forecasts.item_id, '@') > 0
                then substr(forecasts.item_id, strpos(forecasts.item_id, '@') + 1)
        end as location_id
    from forecasts
    left join products as listed on forecasts.item_id = listed.product_id
)

select
    cast(keyed.as_of_date as date) as as_of_date,
    cast(keyed.item_id as text) as item_id,
    cast(keyed.product_id as text) as product_id,
    cast(keyed.location_id as text) as location_id,
    cast(keyed.forecast_date as date) as forecast_date,
    cast(keyed.forecast_date - keyed.as_of_date as bigint) as horizon_days,
    cast(keyed.p10 as double precision) as p10,
    cast(keyed.p50 as double precision) as p50,
    cast(keyed.p90 as double precision) as p90,
    cast(keyed.price_p50 as double precision) as price_p50,
    products.title as product_title,
    products.category as product_category,
    products.brand as product_brand,
    products.list_price as product_list_price,
    cast(keyed.model_version as text) as model_version,
    cast(keyed.run_id as text) as run_id,
    cast(keyed.scored_at as timestamp) as scored_at
from keyed
left join products on keyed.product_id = products.product_id
