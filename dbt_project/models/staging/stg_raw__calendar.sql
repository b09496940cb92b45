-- One row per (calendar_date, event_name): a dated event known in advance (holiday, sport, pay day).
with source as (
    select * from {{ source('raw', 'calendar') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(calendar_date as date) as calendar_date,
        trim(cast(event_name as text)) as event_name,
        nullif(lower(trim(cast(event_type as text))), '') as event_type,
        nullif(trim(cast(store_id as text)), '') as store_id,
        nullif(trim(cast(region as text)), '') as region,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['calendar_date', 'event_name'], 'dt desc') }}
)

select
    calendar_date,
    event_name,
    event_type,
    store_id,
    region,
    dt,
    source_name
from deduped
