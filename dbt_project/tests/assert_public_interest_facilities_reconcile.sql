-- Member facilities and facilities with initiatives equal the current survey rows in staging.
-- Shown in Dagster as an asset check of marts/public_interest_facilities.
{{ config(meta={'dagster': {'ref': {'name': 'public_interest_facilities'}}}) }}

with current_rows as (
    {{ current_rows('stg_facility_initiatives') }}
),

staged as (
    select
        stg.fiscal_year,
        count(*) as members,
        sum(
            case
                when
                    {%- for category in var('initiative_categories') %}
                    stg.{{ category.column }}{{ " or" if not loop.last }}
                    {%- endfor %}
                    then 1
                else 0
            end
        ) as with_initiatives
    from current_rows as stg
    group by stg.fiscal_year
),

mart as (
    select
        fiscal_year,
        sum(member_facilities) as members,
        sum(facilities_with_initiatives) as with_initiatives
    from {{ ref('public_interest_facilities') }}
    group by fiscal_year
)

select
    coalesce(staged.fiscal_year, mart.fiscal_year) as fiscal_year,
    staged.members as staged_members,
    mart.members as mart_members,
    staged.with_initiatives as staged_with_initiatives,
    mart.with_initiatives as mart_with_initiatives
from staged
full outer join mart
    on staged.fiscal_year = mart.fiscal_year
where
    staged.members is null
    or mart.members is null
    or staged.members <> mart.members
    or staged.with_initiatives <> mart.with_initiatives
