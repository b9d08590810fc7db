select
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    field,
    cast(count(*) as {{ dbt.type_bigint() }}) as member_facilities,
    cast(sum(case when has_initiative then 1 else 0 end) as {{ dbt.type_bigint() }})
        as facilities_with_initiatives,
    cast(
        round(
            cast(sum(case when has_initiative then 1 else 0 end) as double)
            / count(*),
            4
        ) as double
    ) as share
from {{ ref('int_facilities_current') }}
group by fiscal_year, field
