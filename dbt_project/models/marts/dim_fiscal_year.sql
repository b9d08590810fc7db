select
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(label_ja as {{ dbt.type_string() }}) as label_ja,
    cast(label_en as {{ dbt.type_string() }}) as label_en,
    cast(starts_on as date) as starts_on,
    cast(ends_on as date) as ends_on
from {{ ref('fiscal_years') }}
