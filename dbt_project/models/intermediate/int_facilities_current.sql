-- Member facilities of the facility council's current survey for each fiscal year.
with facilities as (
    {{ current_rows('stg_facility_initiatives') }}
)

select
    facilities.*,
    (
        {%- for category in var('initiative_categories') %}
        facilities.{{ category.column }}{{ " or" if not loop.last }}
        {%- endfor %}
    ) as has_initiative
from facilities
