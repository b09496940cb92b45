-- One row per product_id: the copy from the latest partition wins.
with source as (
    select * from {{ source('raw', 'products') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(product_id as text) as product_id,
        nullif(trim(cast(title as text)), '') as title,
        nullif(trim(cast(description as text)), '') as description,
        nullif(trim(cast(category as text)), '') as category,
        nullif(trim(cast(brand as text)), '') as brand,
        cast(price as double precision) as list_price,
        upper(nullif(trim(cast(currency as text)), '')) as currency,
        cast(created_at as timestamp) as created_at,
        cast(dt as date) as dt,
        cast(hr as integer) as hr,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['product_id'], 'dt desc, hr desc nulls last, created_at desc') }}
)

select
    product_id,
    title,
    description,
    category,
    brand,
    list_price,
    currency,
    created_at,
    dt,
    hr,
    source_name
from deduped
