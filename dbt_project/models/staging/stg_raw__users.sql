-- One row per user_id: the copy from the latest partition wins.
with source as (
    select * from {{ source('raw', 'users') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(user_id as text) as user_id,
        cast(signup_at as timestamp) as signup_at,
        nullif(trim(cast(country as text)), '') as country,
        cast(email_hash as text) as email_hash,
        cast(name_hash as text) as name_hash,
        cast(dt as date) as dt,
        cast(hr as integer) as hr,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['user_id'], 'dt desc, hr desc nulls last, signup_at desc') }}
)

select
    user_id,
    signup_at,
    country,
    email_hash,
    name_hash,
    dt,
    hr,
    source_name
from deduped
