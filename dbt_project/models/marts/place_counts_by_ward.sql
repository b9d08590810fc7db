with by_ward as (
    select
        fiscal_year,
        ward_code,
        count(*) as places
    from {{ ref('int_places_current') }}
    group by fiscal_year, ward_code
)

select
    cast(this_year.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    this_year.ward_code,
    wards.ward_name,
    cast(this_year.places as {{ dbt.type_bigint() }}) as places,
    cast(last_year.places as {{ dbt.type_bigint() }}) as places_prev_year,
    cast(this_year.places - last_year.places as {{ dbt.type_bigint() }}) as change,
    cast(
        round(
            cast(this_year.places - last_year.places as double) * 100
            / {{ dbt.safe_cast("nullif(last_year.places, 0)", "double") }},
            1
        ) as double
    ) as change_pct
from by_ward as this_year
inner join {{ ref('dim_ward') }} as wards
    on this_year.ward_code = wards.ward_code
left join by_ward as last_year
    on
        this_year.ward_code = last_year.ward_code
        and this_year.fiscal_year = last_year.fiscal_year + 1
