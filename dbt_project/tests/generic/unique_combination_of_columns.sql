{#-
    Fails when any combination of `combination_of_columns` occurs more than once.
    Our own copy of the dbt_utils test: the project takes no hub packages (no network in CI).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
