-- One row per (search_event_id, product_id): a product the shop showed for a search, with its
-- position and whether it was clicked and bought (the search ranker's labels, tasks/train/search_ranker).
with source as (
    select * from {{ source('raw', 'search_impressions') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(search_event_id as text) as search_event_id,
        cast(product_id as text) as product_id,
        cast(position as integer) as position,
        cast(is_clicked as boolean) as is_clicked,
        cast(is_purchased as boolean) as is_purchased,
        cast(searched_at as timestamp) as searched_at,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['search_event_id', 'product_id'], 'dt desc') }}
)

select
    search_event_id,
    product_id,
    position,
    is_clicked,
    is_purchased,
    searched_at,
    dt,
    source_name
from deduped
