-- One row per user. Sources without a users file still get a user dimension: users seen only
-- on order lines, events or transactions are included with signup_at = first seen anywhere
-- (is_signup_inferred = true), so every user a fact table names has a dimension row.
with users as (
    select * from {{ ref('stg_raw__users') }}
),

first_orders as (
    select * from {{ ref('int_users_first_orders') }}
),

seen as (
    select
        user_id,
        first_seen_at as seen_at
    from first_orders
    union all
    select
        user_id,
        event_at as seen_at
    from {{ ref('stg_raw__events') }}
    where user_id is not null
    union all
    select
        user_id,
        transaction_at as seen_at
    from {{ ref('stg_raw__transactions') }}
    where user_id is not null
),

first_seen as (
    select
        user_id,
        min(seen_at) as first_seen_at
    from seen
    group by user_id
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

derived_users as (
    select
        first_seen.user_id,
        first_seen.first_seen_at as signup_at,
        cast(null as text) as country,
        cast(null as text) as email_hash,
        true as is_signup_inferred
    from first_seen
    left join users on first_seen.user_id = users.user_id
    where users.user_id is null
),

all_users as (
    select * from known_users
    union all
    select * from derived_users
)

select
    all_users.user_id,
    all_users.signup_at,
    all_users.country,
    all_users.email_hash,
    cast(first_orders.first_order_at as timestamp) as first_order_at,
    cast(coalesce(first_orders.n_orders, 0) as bigint) as n_orders,
    cast(all_users.is_signup_inferred as boolean) as is_signup_inferred
from all_users
left join first_orders on all_users.user_id = first_orders.user_id
