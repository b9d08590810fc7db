select
    cast(years.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(years.label_ja as {{ dbt.type_string() }}) as label_ja,
    cast(years.label_en as {{ dbt.type_string() }}) as label_en,
    cast(years.starts_on as date) as starts_on,
    cast(years.ends_on as date) as ends_on,
    closed.fiscal_year is not null as is_closed,
    closed.closed_at,
    closed.closed_by,
    closed.vintage as closing_vintage
from {{ ref('fiscal_years') }} as years
left join {{ ref('int_closed_years') }} as closed
    on years.fiscal_year = closed.fiscal_year
