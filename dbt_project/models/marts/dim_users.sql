-- One row per user. Users that only appear on order lines (sources without a users table,
-- e.g. UCI Online Retail) are included with signup_at inferred from their first order line,
-- so every ordering user has a dimension row.
with users as (
    select * from {{ ref('stg_raw__users') }}
),

first_orders as (
    select * from {{ ref('int_users_first_orders') }}
),

known_users as (
    select
        users.user_id,
        users.signup_at,
        users.country,
        users.email_hash,
        false as is_signup_inferred
    from users
),

order_only_users as (
    select
        first_orders.user_id,
        first_orders.first_seen_at as signup_at,
        cast(null as text) as country,
        cast(null as text) as email_hash,
        true as is_signup_inferred
    from first_orders
    left join users on first_orders.user_id = users.user_id
    where users.user_id is null
),

all_users as (
    select * from known_users
    union all
    select * from order_only_users
)

select
    cast(all_users.user_id as text) as user_id,
    cast(all_users.signup_at as timestamp) as signup_at,
    cast(all_users.country as text) as country,
    cast(all_users.email_hash as text) as email_hash,
    cast(first_orders.first_order_at as timestamp) as first_order_at,
    cast(coalesce(first_orders.n_orders, 0) as bigint) as n_orders,
    cast(all_users.is_signup_inferred as boolean) as is_signup_inferred
from all_users
left join first_orders on all_users.user_id = first_orders.user_id
