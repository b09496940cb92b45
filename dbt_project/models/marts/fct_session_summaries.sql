-- One row per browsing session from sources that deliver session aggregates only
-- Columns come typed from staging (stg_raw__*), so only derived ones are cast here.
-- (e.g. UCI Online Shoppers); sources with events build sessions in Spark instead.
select
    session_id,
    user_id,
    started_at,
    cast(started_at as date) as session_date,
    n_events,
    n_product_views,
    duration_seconds,
    bounce_rate,
    exit_rate,
    page_value,
    visitor_type,
    is_weekend,
    device,
    region,
    has_purchase
from {{ ref('stg_raw__sessions') }}
