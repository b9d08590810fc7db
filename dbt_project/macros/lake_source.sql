{#- The one place that knows how each engine reads the lake. source('lake', <table>) is the
    lake's folder of Parquet files: dbt-duckdb reads it through the source's
    `external_location` (read_parquet over the folder); Spark reads it as
    parquet.`<WELFARE_LAKE_URI>/<table>`, the location the cluster reaches the lake at. Every
    other source is dbt's own. (dbt lets a project mask `source`; builtins.source keeps the
    lineage.) -#}
{% macro source(source_name, table_name) %}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {%- if source_name == 'lake' and target.type == 'spark' -%}
        {%- set location = env_var('WELFARE_LAKE_URI', 'lake') ~ '/' ~ table_name -%}
        {{ return(api.Relation.create(
            schema='parquet',
            identifier='`' ~ location ~ '`',
            quote_policy={'database': false, 'schema': false, 'identifier': false},
        )) }}
    {%- endif -%}
    {{ return(relation) }}
{% endmacro %}
