with source as (
    select * from {{ source('lake', 'releases') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source as {{ dbt.type_string() }}) as source,
    cast(file_name as {{ dbt.type_string() }}) as file_name,
    cast(released_at as {{ dbt.type_timestamp() }}) as released_at,
    cast(released_by as {{ dbt.type_string() }}) as released_by,
    cast(reason as {{ dbt.type_string() }}) as release_reason,
    cast(findings as {{ dbt.type_string() }}) as released_findings
from source
