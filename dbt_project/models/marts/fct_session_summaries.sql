-- One row per browsing session from sources that deliver session aggregates only
-- (e.g. UCI Online Shoppers); sources with events build sessions in Spark instead.
select
    cast(session_id as text) as session_id,
    cast(user_id as text) as user_id,
    cast(started_at as timestamp) as started_at,
    cast(started_at as date) as session_date,
    cast(n_events as bigint) as n_events,
    cast(n_product_views as bigint) as n_product_views,
    cast(duration_seconds as double precision) as duration_seconds,
    cast(bounce_rate as double precision) as bounce_rate,
    cast(exit_rate as double precision) as exit_rate,
    cast(page_value as double precision) as page_value,
    cast(visitor_type as text) as visitor_type,
    cast(is_weekend as boolean) as is_weekend,
    cast(device as text) as device,
    cast(region as text) as region,
    cast(has_purchase as boolean) as has_purchase
from {{ ref('stg_raw__sessions') }}
