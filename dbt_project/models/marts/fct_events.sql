-- One row per behaviour event.
-- Columns come typed from staging (stg_raw__*), so only derived ones are cast here.
select
    event_id,
    session_id,
    user_id,
    event_type,
    product_id,
    query,
    price,
    device,
    event_at,
    cast(event_at as date) as event_date,
    extra_features
from {{ ref('stg_raw__events') }}
