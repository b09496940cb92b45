{#-
    Keep one row per key: the latest by `order_by` (a SQL ORDER BY list, newest first).

    Raw partitions can carry the same key twice (a corrected re-delivery landing in another
    partition, or a source that repeats rows); downstream grains assume one row per key.
    Written with ROW_NUMBER in a subquery rather than QUALIFY so it runs on PostgreSQL too.
-#}
{% macro dedupe_latest(relation, key_columns, order_by) -%}
    select * from (
        select
            _dedupe_input.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ order_by }}
            ) as _dedupe_rank
        from {{ relation }} as _dedupe_input
    ) as _dedupe_ranked
    where _dedupe_rank = 1
{%- endmacro %}
