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
    end as status
from reported
left join computed
    on
        reported.fiscal_year = computed.fiscal_year
        and reported.indicator_code = computed.indicator_code
