{#-
    Land models in exactly the schema named by `+schema` (staging, intermediate, marts,
    serving) instead of dbt's default `<target_schema>_<custom>`: Python code and
    docs/CONTRACTS.md address tables as `marts.fct_events` on every target.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
