-- Reported plan indicators beside what the warehouse computes from the other sources.
with reported as (
    select * from {{ ref('int_plan_indicators_current') }}
),

computed as (
    select
        fiscal_year,
        'ibasho_places' as indicator_code,
        cast(count(*) as double) as computed_value
    from {{ ref('int_places_current') }}
    group by fiscal_year
    union all
    select
        fiscal_year,
        'public_interest_facilities' as indicator_code,
        cast(sum(case when has_initiative then 1 else 0 end) as double)
            as computed_value
    from {{ ref('int_facilities_current') }}
    group by fiscal_year
    union all
    select
        fiscal_year,
        'volunteer_consultations' as indicator_code,
        cast(count(*) as double) as computed_value
    from {{ ref('int_consultations_current') }}
    group by fiscal_year
),

-- The plan item each indicator belongs to, where the mapping is clear (plan_indicator_items),
-- with the years its plan is in force.
items as (
    select
        links.indicator_code,
        plan_items.item_code,
        plan_items.item_name,
        plan_items.first_fiscal_year,
        plan_items.last_fiscal_year
    from {{ ref('plan_indicator_items') }} as links
    inner join {{ ref('plan_items') }} as plan_items
        on links.plan_code = plan_items.plan_code and links.item_code = plan_items.item_code
)

select
    cast(reported.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(reported.role as {{ dbt.type_int() }}) as role,
    reported.indicator_code,
    reported.indicator_name,
    reported.unit,
    cast(reported.reported_value as double) as reported_value,
    cast(computed.computed_value as double) as computed_value,
    case
        when computed.computed_value is null then 'not_computed'
        when reported.reported_value = computed.computed_value then 'match'
        else 'mismatch'
    end as status,
    items.item_code as plan_item,
    items.item_name
from reported
left join computed
    on
        reported.fiscal_year = computed.fiscal_year
        and reported.indicator_code = computed.indicator_code
left join items
    on
        reported.indicator_code = items.indicator_code
        and reported.fiscal_year between items.first_fiscal_year and items.last_fiscal_year
