-- One row per scored session and scoring hour (session_id, as_of_date, as_of_hour): the intent
-- score next to the session's context from the warehouse. Context comes from the session's
-- events when the source has a clickstream, else from the source's session summaries
-- (session-aggregate sources such as Online Shoppers). User context is limited to coarse,
-- non-identifying attributes (country, whether the user had bought before); no hashes of
-- e-mails, names, cards or IPs reach this table.
with intent as (
    select
        session_id,
        user_id,
        p_purchase,
        intent,
        -- Tables written before the scorer published thresholds lack the column.
        {{ optional_column(source('serving_outputs', 'session_intent'), 'threshold', 'double precision') }}
            as threshold,
        as_of_date,
        as_of_hour,
        model_version,
        run_id,
        scored_at
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    from {{ source_or_empty('serving_outputs', 'session_intent') }} as source_table  -- noqa: AL05
),

-- Only the scored sessions' events: the serving build runs hourly, fct_events is the largest mart.
session_events as (
    select
        events.session_id,
        min(events.event_at) as started_at,
        max(events.event_at) as last_event_at,
        count(*) as n_events,
        sum(case when events.event_type = 'view' then 1 else 0 end) as n_product_views,
        sum(case when events.event_type = 'cart' then 1 else 0 end) as n_cart_adds,
        max(case when events.event_type = 'purchase' then 1 else 0 end) = 1 as has_purchase,
        min(events.device) as device
    from {{ ref('fct_events') }} as events
    where events.session_id in (select intent.session_id from intent)
    group by events.session_id
),

session_summaries as (
    select * from {{ ref('fct_session_summaries') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

context as (
    select
        intent.*,
        case
            when session_events.session_id is not null then 'events'
            when session_summaries.session_id is not null then 'session_summaries'
        end as context_source,
        coalesce(session_events.started_at, session_summaries.started_at) as session_started_at,
        case
            when session_events.session_id is not null
                then
                    extract(epoch from session_events.last_event_at)
                    - extract(epoch from session_events.started_at)
            else session_summaries.duration_seconds
        end as session_duration_seconds,
        coalesce(session_events.n_events, session_summaries.n_events) as n_events,
        coalesce(session_events.n_product_views, session_summaries.n_product_views) as n_product_views,
        session_events.n_cart_adds,
        coalesce(session_events.has_purchase, session_summaries.has_purchase) as has_purchase,
        coalesce(session_events.device, session_summaries.device) as device
    from intent
    left join session_events on intent.session_id = session_events.session_id
    left join session_summaries on intent.session_id = session_summaries.session_id
)

select
    cast(context.session_id as text) as session_id,
    cast(context.user_id as text) as user_id,
    cast(context.as_of_date as date) as as_of_date,
    cast(context.as_of_hour as timestamp) as as_of_hour,
    cast(context.p_purchase as double precision) as p_purchase,
    cast(context.intent as text) as intent,
    cast(context.threshold as double precision) as threshold,
    cast(context.context_source as text) as context_source,
    cast(context.session_started_at as timestamp) as session_started_at,
    cast(context.session_duration_seconds as double precision) as session_duration_seconds,
    cast(context.n_events as bigint) as n_events,
    cast(context.n_product_views as bigint) as n_product_views,
    cast(context.n_cart_adds as bigint) as n_cart_adds,
    cast(context.has_purchase as boolean) as has_purchase,
    cast(context.device as text) as device,
    cast(users.country as text) as user_country,
    cast(
        case
            when users.user_id is null or context.session_started_at is null then null
            else coalesce(users.first_order_at < context.session_started_at, false)
        end as boolean
    ) as is_returning_buyer,
    cast(context.model_version as text) as model_version,
    cast(context.run_id as text) as run_id,
    cast(context.scored_at as timestamp) as scored_at
from context
left join users on context.user_id = users.user_id
