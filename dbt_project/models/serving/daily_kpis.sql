-- One row per UTC calendar date with any activity: traffic, orders, payments and risk
-- decisions side by side for the BI dashboard.
with events_daily as (
    select
        event_date as kpi_date,
        count(*) as n_events,
        count(distinct session_id) as n_sessions,
        count(distinct user_id) as n_active_users,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchase_events
    from {{ ref('fct_events') }}
    group by event_date
),

orders_daily as (
    select
        order_date as kpi_date,
        count(distinct case when not is_cancellation then order_id end) as n_orders,
        sum(case when not is_cancellation then quantity else 0 end) as units_sold,
        sum(case when not is_cancellation then line_amount else 0 end) as gross_revenue,
        sum(case when is_cancellation then -line_amount else 0 end) as cancelled_amount
    from {{ ref('fct_order_lines') }}
    group by order_date
),

transactions_daily as (
    select
        transaction_date as kpi_date,
        count(*) as n_transactions,
        sum(amount) as transaction_amount,
        sum(case when is_fraud then 1 else 0 end) as n_known_fraud
    from {{ ref('fct_transactions') }}
    group by transaction_date
),

risk_daily as (
    select
        transactions.transaction_date as kpi_date,
        sum(case when queue.label = 'review' then 1 else 0 end) as n_risk_review,
        sum(case when queue.label = 'block' then 1 else 0 end) as n_risk_block
    from {{ ref('risk_review_queue') }} as queue
    inner join {{ ref('fct_transactions') }} as transactions
        on queue.transaction_id = transactions.transaction_id
    group by transactions.transaction_date
),

kpi_dates as (
    select kpi_date from events_daily
    union
    select kpi_date from orders_daily
    union
    select kpi_date from transactions_daily
)

select
    cast(kpi_dates.kpi_date as date) as kpi_date,
    cast(coalesce(events_daily.n_events, 0) as bigint) as n_events,
    cast(coalesce(events_daily.n_sessions, 0) as bigint) as n_sessions,
    cast(coalesce(events_daily.n_active_users, 0) as bigint) as n_active_users,
    cast(coalesce(events_daily.n_purchase_events, 0) as bigint) as n_purchase_events,
    cast(coalesce(orders_daily.n_orders, 0) as bigint) as n_orders,
    cast(coalesce(orders_daily.units_sold, 0) as bigint) as units_sold,
    cast(coalesce(orders_daily.gross_revenue, 0) as double precision) as gross_revenue,
    cast(coalesce(orders_daily.cancelled_amount, 0) as double precision) as cancelled_amount,
    cast(coalesce(transactions_daily.n_transactions, 0) as bigint) as n_transactions,
    cast(coalesce(transactions_daily.transaction_amount, 0) as double precision) as transaction_amount,
    cast(coalesce(transactions_daily.n_known_fraud, 0) as bigint) as n_known_fraud,
    cast(coalesce(risk_daily.n_risk_review, 0) as bigint) as n_risk_review,
    cast(coalesce(risk_daily.n_risk_block, 0) as bigint) as n_risk_block
from kpi_dates
left join events_daily on kpi_dates.kpi_date = events_daily.kpi_date
left join orders_daily on kpi_dates.kpi_date = orders_daily.kpi_date
left join transactions_daily on kpi_dates.kpi_date = transactions_daily.kpi_date
left join risk_daily on kpi_dates.kpi_date = risk_daily.kpi_date
