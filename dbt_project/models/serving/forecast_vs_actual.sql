-- One row per (as_of_date, item_id, forecast_date): each forecast next to the units that were
-- realised on its forecast_date, once the warehouse has sales data up to that date.
-- fct_daily_item_sales is sparse (no row = nothing sold), so a known date without a row is an
-- actual of 0; a date after the last loaded sales day is not known yet (actual null).
-- A product-level series is compared with the product's units summed over stores, a
-- `product@location` series with that store's units. Weekly/monthly sources land their
-- totals on the date the forecast is labelled with, so the same join holds for every grain.
with forecasts as (
    select * from {{ ref('demand_forecasts_enriched') }}
),

sales as (
    select * from {{ ref('fct_daily_item_sales') }}
),

known_through as (
    select max(sales_date) as last_sales_date from sales
),

product_daily as (
    select
        product_id,
        sales_date,
        sum(units) as units
    from sales
    group by product_id, sales_date
),

compared as (
    select
        forecasts.*,
        known_through.last_sales_date is not null
        and forecasts.forecast_date <= known_through.last_sales_date as is_actual_known,
        case
            when forecasts.location_id is null then product_daily.units
            else store_daily.units
        end as sold_units
    from forecasts
    cross join known_through
    left join product_daily
        on
            forecasts.location_id is null
            and forecasts.product_id = product_daily.product_id
            and forecasts.forecast_date = product_daily.sales_date
    left join sales as store_daily
        on
            forecasts.product_id = store_daily.product_id
            and forecasts.location_id = store_daily.store_id
            and forecasts.forecast_date = store_daily.sales_date
),

actuals as (
    select
        compared.*,
        case when compared.is_actual_known then coalesce(compared.sold_units, 0) end as actual_units
    from compared
)

select
    cast(as_of_date as date) as as_of_date,
    cast(item_id as text) as item_id,
    cast(product_id as text) as product_id,
    cast(location_id as text) as location_id,
    cast(product_title as text) as product_title,
    cast(product_category as text) as product_category,
    cast(forecast_date as date) as forecast_date,
    cast(horizon_days as bigint) as horizon_days,
    cast(p10 as double precision) as p10,
    cast(p50 as double precision) as p50,
    cast(p90 as double precision) as p90,
    cast(actual_units as double precision) as actual_units,
    cast(is_actual_known as boolean) as is_actual_known,
    cast(abs(actual_units - p50) as double precision) as abs_error,
    cast(actual_units between p10 and p90 as boolean) as is_within_interval,
    cast(model_version as text) as model_version,
    cast(scored_at as timestamp) as scored_at
from actuals
