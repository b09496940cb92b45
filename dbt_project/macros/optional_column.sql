{#-
    `column_name` cast to `data_type` when `relation` has that column, else a typed null
    (an expression; the caller names it).

    Why: mapping files may carry columns the canonical schema lists as optional extras (e.g. a
    clickstream's `category` on events). Models that can use such a column read it when the
    loaded raw table has it and degrade to null otherwise, so one project builds on every
    source instead of failing on a missing column. While parsing (not `execute`) it renders
    the null form, which has the same type.
-#}
{% macro optional_column(relation, column_name, data_type) -%}
    {%- set names = [] -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
        {%- if existing is not none -%}
            {%- for column in adapter.get_columns_in_relation(existing) -%}
                {%- do names.append(column.name | lower) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {%- if column_name | lower in names -%}
        cast({{ adapter.quote(column_name) }} as {{ data_type }})
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
