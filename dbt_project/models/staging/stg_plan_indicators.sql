with source as (
    select * from {{ source('lake', 'plan_indicators') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source_row as {{ dbt.type_int() }}) as source_row,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(role as {{ dbt.type_int() }}) as role,
    cast(indicator_code as {{ dbt.type_string() }}) as indicator_code,
    cast(indicator_name as {{ dbt.type_string() }}) as indicator_name,
    cast(value as double) as reported_value,
    cast(unit as {{ dbt.type_string() }}) as unit
from source
