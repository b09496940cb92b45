-- One row per (product_id, snapshot_at): a stock snapshot.
with source as (
    select * from {{ source('raw', 'inventory') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(product_id as text) as product_id,
        cast(stock_quantity as bigint) as stock_quantity,
        cast(snapshot_at as timestamp) as snapshot_at,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['product_id', 'snapshot_at'], 'dt desc') }}
)

select
    product_id,
    stock_quantity,
    snapshot_at,
    dt,
    source_name
from deduped
