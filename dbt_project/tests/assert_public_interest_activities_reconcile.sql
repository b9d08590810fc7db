-- Facilities per category in the mart equal the yes-flags of the current survey in staging.
-- Shown in Dagster as an asset check of marts/public_interest_activities.
{{ config(meta={'dagster': {'ref': {'name': 'public_interest_activities'}}}) }}

with current_rows as (
    {{ current_rows('stg_facility_initiatives') }}
),

staged as (
    {%- for category in var('initiative_categories') %}
    select
        stg.fiscal_year,
        '{{ category.label_ja }}' as category,
        sum(case when stg.{{ category.column }} then 1 else 0 end) as facilities
    from current_rows as stg
    group by stg.fiscal_year
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

mart as (
    select
        fiscal_year,
        category,
        sum(facilities) as facilities
    from {{ ref('public_interest_activities') }}
    group by fiscal_year, category
)

select
    staged.fiscal_year,
    staged.category,
    staged.facilities as staged_facilities,
    mart.facilities as mart_facilities
from staged
left join mart
    on staged.fiscal_year = mart.fiscal_year and staged.category = mart.category
where coalesce(mart.facilities, 0) <> staged.facilities
