{#- Every row has a value in each of `columns`: a model's required columns in one test (one
    scan, one node of the build instead of one per column). A failing row names the column
    and how many rows lack it: `dbt test --select <this test> --store-failures` lists them. -#}
{% test not_null_columns(model, columns) %}

with missing as (
    select
    {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)

{% for column in columns -%}
select '{{ column }}' as column_name, {{ column }} as rows_without_value
from missing
where {{ column }} > 0
{% if not loop.last %}union all
{% endif -%}
{% endfor %}

{% endtest %}
