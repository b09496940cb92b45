-- One row per transaction currently labelled review or block: its latest scoring (a
-- transaction scored hourly and again daily appears once), with the payment details an
-- analyst needs, riskiest first.
with risk_labels as (
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    select * from {{ source_or_empty('serving_outputs', 'risk_labels') }} as source_table  -- noqa: AL05
),

latest_labels as (
    {{ dedupe_latest('risk_labels', ['transaction_id'], 'scored_at desc, as_of_date desc, as_of_hour desc nulls last') }}
),

transactions as (
    select * from {{ ref('fct_transactions') }}
)

select
    cast(latest_labels.transaction_id as text) as transaction_id,
    cast(latest_labels.user_id as text) as user_id,
    cast(latest_labels.risk_score as double precision) as risk_score,
    cast(latest_labels.label as text) as label,
    cast(latest_labels.action as text) as action,
    cast(latest_labels.reasons as text) as reasons,
    transactions.amount,
    transactions.currency,
    transactions.payment_method,
    transactions.country,
    transactions.transaction_at,
    cast(latest_labels.as_of_date as date) as as_of_date,
    cast(latest_labels.as_of_hour as timestamp) as as_of_hour,
    cast(latest_labels.model_version as text) as model_version,
    cast(latest_labels.scored_at as timestamp) as scored_at,
    row_number() over (
        order by latest_labels.risk_score desc, latest_labels.transaction_id asc
    ) as queue_position
from latest_labels
left join transactions on latest_labels.transaction_id = transactions.transaction_id
where latest_labels.label in ('review', 'block')
