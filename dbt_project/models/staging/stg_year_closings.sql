with source as (
    select * from {{ source('lake', 'year_closings') }}
)

select
    cast(closing_id as {{ dbt.type_string() }}) as closing_id,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(action as {{ dbt.type_string() }}) as action,
    cast(acted_at as {{ dbt.type_timestamp() }}) as acted_at,
    cast(acted_by as {{ dbt.type_string() }}) as acted_by,
    cast(reason as {{ dbt.type_string() }}) as reason,
    cast(vintage as {{ dbt.type_string() }}) as vintage
from source
