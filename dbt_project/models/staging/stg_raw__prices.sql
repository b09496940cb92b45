-- One row per (product_id, valid_from): a price change.
with source as (
    select * from {{ source('raw', 'prices') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(product_id as text) as product_id,
        cast(price as double precision) as price,
        coalesce(cast(is_promo as boolean), false) as is_promo,
        cast(valid_from as timestamp) as valid_from,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['product_id', 'valid_from'], 'dt desc') }}
)

select
    product_id,
    price,
    is_promo,
    valid_from,
    dt,
    source_name
from deduped
