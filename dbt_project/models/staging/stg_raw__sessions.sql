-- One row per session_id, for sources that only deliver session aggregates.
with source as (
    select * from {{ source('raw', 'sessions') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(session_id as text) as session_id,
        cast(user_id as text) as user_id,
        cast(started_at as timestamp) as started_at,
        cast(n_events as bigint) as n_events,
        cast(n_product_views as bigint) as n_product_views,
        cast(duration_seconds as double precision) as duration_seconds,
        cast(bounce_rate as double precision) as bounce_rate,
        cast(exit_rate as double precision) as exit_rate,
        cast(page_value as double precision) as page_value,
        nullif(trim(cast(visitor_type as text)), '') as visitor_type,
        cast(is_weekend as boolean) as is_weekend,
        nullif(lower(trim(cast(device as text))), '') as device,
        nullif(trim(cast(region as text)), '') as region,
        cast(has_purchase as boolean) as has_purchase,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['session_id'], 'dt desc, started_at desc') }}
)

select
    session_id,
    user_id,
    started_at,
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
    has_purchase,
    dt,
    source_name
from deduped
