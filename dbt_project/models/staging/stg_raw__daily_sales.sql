-- One row per (product_id, store_id, sales_date): daily totals for sources without order lines.
with source as (
    select * from {{ source('raw', 'daily_sales') }} {{ as_of_filter() }}
),

renamed as (
    select
        cast(product_id as text) as product_id,
        coalesce(nullif(trim(cast(store_id as text)), ''), 'all') as store_id,
        cast(units as double precision) as units,
        cast(revenue as double precision) as revenue,
        cast(price as double precision) as price,
        coalesce(cast(is_promo as boolean), false) as is_promo,
        cast(sales_date as date) as sales_date,
        cast(dt as date) as dt,
        cast(_source as text) as source_name
    from source
),

deduped as (
    {{ dedupe_latest('renamed', ['product_id', 'store_id', 'sales_date'], 'dt desc') }}
)

select
    product_id,
    store_id,
    units,
    revenue,
    price,
    is_promo,
    sales_date,
    dt,
    source_name
from deduped
