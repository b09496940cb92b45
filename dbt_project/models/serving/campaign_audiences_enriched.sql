-- One row per (as_of_date, campaign_id, user_id): the users selected for a campaign (highest
-- expected incremental conversion first) with what a marketer needs to read and activate the
-- list. email_hash is the keyed hash from dim_users; the clear address never reaches the warehouse.
with audiences as (
    -- The alias is required by PostgreSQL when source_or_empty yields a subquery.
    select * from {{ source_or_empty('serving_outputs', 'campaign_audiences') }} as source_table  -- noqa: AL05
),

users as (
    select * from {{ ref('dim_users') }}
)

select
    cast(audiences.as_of_date as date) as as_of_date,
    cast(audiences.campaign_id as text) as campaign_id,
    cast(audiences.campaign_name as text) as campaign_name,
    cast(audiences.channel as text) as channel,
    cast(audiences.rank as bigint) as rank,
    cast(audiences.user_id as text) as user_id,
    cast(audiences.segment as text) as user_segment,
    cast(audiences.expected_uplift as double precision) as expected_uplift,
    cast(audiences.propensity as double precision) as propensity,
    cast(audiences.reason as text) as reason,
    users.country as user_country,
    users.email_hash as user_email_hash,
    cast(audiences.model_version as text) as model_version,
    cast(audiences.run_id as text) as run_id,
    cast(audiences.scored_at as timestamp) as scored_at
from audiences
left join users on audiences.user_id = users.user_id
