{#
  Bound a staging model to the DAG run's data: rows of raw partitions before the run's as-of
  date (`--vars '{"as_of_date": "YYYY-MM-DD"}'`, set by DbtBuildOperator from the data interval).

  Why: marts are rebuilt from raw on every daily run. Without the bound, re-running the daily
  run for day D after later hourly partitions were ingested would build different marts; with
  it, a re-run (or a backfill) of D always builds the marts as of D + 1 00:00. Without the var
  (ad-hoc `dbt build`, tests) nothing is filtered. Quotes are stripped, so a malformed value can
  only fail the cast in the database, never change the SQL.
#}
{% macro as_of_filter() -%}
  {%- set as_of = var('as_of_date', none) -%}
  {%- if as_of -%}
    where dt < cast('{{ (as_of | string).replace("'", "") }}' as date)
  {%- endif -%}
{%- endmacro %}
