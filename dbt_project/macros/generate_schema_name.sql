{#- Schemas are named as configured (marts, audit, ...), not prefixed with the target's.
    On Spark (a shared cluster) a run builds into private schemas, <target.schema>_<layer>:
    analysts see marts.* and audit.* only once publishing points them at a checked copy. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}
    {%- elif target.type == 'spark' -%}{{ target.schema }}_{{ custom_schema_name | trim }}
    {%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
