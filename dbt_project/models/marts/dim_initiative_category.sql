{%- for category in var('initiative_categories') %}
select
    cast('{{ category.column }}' as {{ dbt.type_string() }}) as category_code,
    cast('{{ category.label_ja }}' as {{ dbt.type_string() }}) as label_ja,
    cast('{{ category.label_en | replace("'", "''") }}' as {{ dbt.type_string() }}) as label_en,
    cast({{ loop.index }} as {{ dbt.type_int() }}) as sort_order
{% if not loop.last %}union all{% endif %}
{%- endfor %}
