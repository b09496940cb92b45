-- One row per behaviour event.
select
    cast(event_id as text) as event_id,
    cast(session_id as text) as session_id,
    cast(user_id as text) as user_id,
    cast(event_type as text) as event_type,
    cast(product_id as text) as product_id,
    cast(query as text) as query,
    cast(price as double precision) as price,
    cast(device as text) as device,
    cast(event_at as timestamp) as event_at,
    cast(event_at as date) as event_date,
    cast(extra_features as text) as extra_features
from {{ ref('stg_raw__events') }}
