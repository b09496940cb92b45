{#-
    `source()` for tables that may not exist yet: the scoring outputs in schema `serving`.
    Daily and hourly scorers write different tables (recommendations daily, risk_labels
    hourly), so the first daily serving build can run before an hourly table exists. Rather
    than fail, read a missing table as an empty relation with the columns and types
    declared in the source yml. The source() call still records the lineage.
-#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ relation }}
    {%- else -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
        {%- if existing is not none -%}
            {{ relation }}
        {%- else -%}
            {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
            {{- log("source " ~ relation ~ " does not exist yet; reading it as empty", info=true) -}}
            (select
            {%- for column in node.columns.values() %}
                cast(null as {{ column.data_type }}) as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
            {%- endfor %}
            where 1 = 0)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
