-- One row per facility and initiative category it carries out.
{%- for category in var('initiative_categories') %}
select
    fiscal_year,
    facility_id,
    field,
    '{{ category.column }}' as category_code
from {{ ref('int_facilities_current') }}
where {{ category.column }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
