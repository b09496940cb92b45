-- One row per product.
select
    cast(product_id as text) as product_id,
    cast(title as text) as title,
    cast(description as text) as description,
    cast(category as text) as category,
    cast(brand as text) as brand,
    cast(list_price as double precision) as list_price,
    cast(currency as text) as currency,
    cast(created_at as timestamp) as created_at
from {{ ref('stg_raw__products') }}
