{#-
    Engine-specific SQL lives here and only here (issue 9): every macro below is dispatched,
    `default__` for DuckDB (the default target) and `spark__` for the `spark` target. Models use
    these macros and dbt's cross-database macros (`dbt.concat`, `dbt.date_trunc`,
    `dbt.type_string()`, ...), never an engine's own functions or syntax.
-#}

{#- A SQL string literal. DuckDB doubles a quote ('It''s'); Spark escapes it with a backslash
    and would read 'It''s' as two adjacent literals ("Its"). -#}
{% macro string_literal(value) -%}
    {{ return(adapter.dispatch('string_literal', 'welfare_warehouse')(value)) }}
{%- endmacro %}

{% macro default__string_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__string_literal(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


{#- Seeds on Spark: dbt-spark's session connection substitutes seed values into the INSERT
    without escaping them, so a label such as "Children's cafeteria" breaks the statement.
    This override writes each value as a properly escaped literal instead of a binding. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {% set column_override = model['config'].get('column_types', {}) %}
    {% set statements = [] %}
    {% for chunk in agate_table.rows | batch(get_batch_size()) %}
        {% set sql %}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                (
                {%- for value in row -%}
                    {%- set column_name = agate_table.column_names[loop.index0] -%}
                    {%- set column_type = column_override.get(
                        column_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- if value is none -%}
                        cast(null as {{ column_type }})
                    {%- else -%}
                        cast({{ spark__string_literal(value) }} as {{ column_type }})
                    {%- endif -%}
                    {{- "," if not loop.last }}
                {%- endfor -%}
                ){{ "," if not loop.last }}
            {% endfor %}
        {% endset %}
        {% do adapter.add_query(sql, abridge_sql_log=True) %}
        {% if loop.first %}{% do statements.append(sql) %}{% endif %}
    {% endfor %}
    {{ return(statements[0]) }}
{% endmacro %}


{#- The day due dates are measured against (WELFARE_TODAY, set by the pipeline for every dbt
    process: the date in Osaka, or the one a drill or test gives). -#}
{% macro welfare_today() -%}
    cast('{{ env_var("WELFARE_TODAY", modules.datetime.date.today().isoformat()) }}' as date)
{%- endmacro %}

{#- The date in Osaka (UTC+9, no daylight saving) of a UTC timestamp. -#}
{% macro tokyo_date(timestamp) -%}
    cast({{ dbt.dateadd('hour', 9, timestamp) }} as date)
{%- endmacro %}

{#- The distinct values of a text column in a group, sorted, joined by "、" (an aggregate);
    null when there is none. -#}
{% macro sorted_list(column) -%}
    {{ return(adapter.dispatch('sorted_list', 'welfare_warehouse')(column)) }}
{%- endmacro %}

{% macro default__sorted_list(column) -%}
    nullif(array_to_string(list_sort(list(distinct {{ column }}) filter (where {{ column }} is not null)), '、'), '')
{%- endmacro %}

{% macro spark__sorted_list(column) -%}
    nullif(array_join(array_sort(collect_set({{ column }})), '、'), '')
{%- endmacro %}

{#- The self-rating counts of a group of actions (int_action_plans_current.rating_class):
    rated_achieved (◎/A), rated_mostly (○/B), rated_partly (△/C), rated_not (×/D), not_rated
    (−/E or blank). -#}
{% macro rating_counts(rating_class='rating_class') -%}
    {%- for name in ['achieved', 'mostly', 'partly', 'not'] %}
    cast(sum(case when {{ rating_class }} = '{{ name }}' then 1 else 0 end)
        as {{ dbt.type_bigint() }}) as rated_{{ name }},
    {%- endfor %}
    cast(sum(case when {{ rating_class }} = 'not_rated' then 1 else 0 end)
        as {{ dbt.type_bigint() }}) as not_rated
{%- endmacro %}
