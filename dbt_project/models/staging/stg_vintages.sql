with source as (
    select * from {{ source('lake', 'vintages') }}
)

select
    cast(name as {{ dbt.type_string() }}) as vintage,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(created_by as {{ dbt.type_string() }}) as created_by,
    cast(note as {{ dbt.type_string() }}) as note,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(warehouse_version as {{ dbt.type_string() }}) as warehouse_version,
    cast(manifest_sha256 as {{ dbt.type_string() }}) as manifest_sha256
from source
