{#- Every column of a relation but those named, in its own order: a model that passes a
    table on without some internal column need not list (and keep in step) all the others.
    `alias`: the name the relation has in the query, when it is joined to others. -#}
{% macro star_except(relation, except, alias=none) %}
    {%- if not execute -%}
        {{ return((alias ~ '.' if alias else '') ~ '*') }}
    {%- endif -%}
    {%- set kept = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- if column.name | lower not in except -%}
            {%- do kept.append(
                (alias ~ '.' if alias else '') ~ adapter.quote(column.name)
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- No columns: the relation is not built yet (sqlfluff's render of an unbuilt project). -#}
    {{ return(kept | join(', ') if kept else (alias ~ '.' if alias else '') ~ '*') }}
{% endmacro %}
