{%- for category in var('initiative_categories') %}
select
    cast({{ string_literal(category.column) }} as {{ dbt.type_string() }}) as category_code,
    cast({{ string_literal(category.label_ja) }} as {{ dbt.type_string() }}) as label_ja,
    cast({{ string_literal(category.label_en) }} as {{ dbt.type_string() }}) as label_en,
    cast({{ loop.index }} as {{ dbt.type_int() }}) as sort_order
{% if not loop.last %}union all{% endif %}
{%- endfor %}
