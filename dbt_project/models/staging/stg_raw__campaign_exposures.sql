-- One row per (campaign_id, user_id): a user sent a past campaign or held out as its control.
with source as (
    select * from {{ source('raw', 'campaign_exposures') }} {{ as_of_filter() }}
),

renamed as (
    select
        trim(cast(campaign_id as text)) as campaign_id,
        cast(user_id as text) as user_id,
        nullif(lower(trim(cast(channel as text))), '') as channel,
        nullif(lower(trim(cast(target_category as text))), '') as target_category,
        cast(is_treated as boolean) as is_treated,
        cast(exposed_at as timestamp) as exposed_at,
        cast(converted_at as timestamp) as converted_at,
        cast(reported_at as timestamp) as reported_at,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['campaign_id', 'user_id'], 'dt desc, reported_at desc') }}
)

select
    campaign_id,
    user_id,
    channel,
    target_category,
    is_treated,
    exposed_at,
    converted_at,
    reported_at,
    converted_at is not null as is_converted,
    dt,
    source_name
from deduped
