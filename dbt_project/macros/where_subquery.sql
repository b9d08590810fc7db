{#- dbt's get_where_subquery, plus test scopes: every data test of a model whose meta has
    `test_scope: <scope>` reads only the rows consultations_test_scope(<scope>) selects
    (macros/consultations_incremental.sql: what a build changed). A test's own `where`
    works as in dbt and takes precedence. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- set scope = tested.config.meta.get('test_scope') if tested else none -%}
    {%- if not where and scope -%}
        {%- set where = consultations_test_scope(scope) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
