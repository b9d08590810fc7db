with source as (
    select * from {{ source('lake', 'closed_files') }}
)

select
    cast(closing_id as {{ dbt.type_string() }}) as closing_id,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(sha256 as {{ dbt.type_string() }}) as sha256
from source
