-- One row per event_id; event_type normalised to lower case so accepted_values holds
-- for sources that send 'View' or ' cart '.
with source as (
    select * from {{ source('raw', 'events') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(event_id as text) as event_id,
        cast(session_id as text) as session_id,
        cast(user_id as text) as user_id,
        lower(trim(cast(event_type as text))) as event_type,
        cast(product_id as text) as product_id,
        nullif(trim(cast(query as text)), '') as query,
        cast(price as double precision) as price,
        nullif(lower(trim(cast(device as text))), '') as device,
        -- optional extra: clickstreams often carry a category id per event (no products file)
        nullif(trim({{ optional_column(source('raw', 'events'), 'category', 'text') }}), '') as category,
        -- the shop's own signals declared in the mapping (`features:`), a JSON object as text
        {{ optional_column(source('raw', 'events'), 'extra_features', 'text') }} as extra_features,
        cast(event_at as timestamp) as event_at,
        cast(dt as date) as dt,
        cast(hr as integer) as hr,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['event_id'], 'dt desc, hr desc nulls last, event_at desc') }}
)

select
    event_id,
    session_id,
    user_id,
    event_type,
    product_id,
    query,
    price,
    device,
    category,
    extra_features,
    event_at,
    dt,
    hr,
    source_name
from deduped
