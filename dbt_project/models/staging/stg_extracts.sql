with source as (
    select * from {{ source('lake', 'extracts') }}
)

select
    cast(extract_id as {{ dbt.type_string() }}) as extract_id,
    cast(name as {{ dbt.type_string() }}) as extract_name,
    cast(requester as {{ dbt.type_string() }}) as requester,
    cast(purpose as {{ dbt.type_string() }}) as purpose,
    cast(requested_by as {{ dbt.type_string() }}) as requested_by,
    cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(spec_path as {{ dbt.type_string() }}) as spec_path,
    cast(spec_sha256 as {{ dbt.type_string() }}) as spec_sha256,
    cast(tables as {{ dbt.type_string() }}) as tables,
    cast(warehouse_version as {{ dbt.type_string() }}) as warehouse_version,
    cast(cells_hidden as {{ dbt.type_int() }}) as cells_hidden,
    cast(package_path as {{ dbt.type_string() }}) as package_path,
    cast(zip_sha256 as {{ dbt.type_string() }}) as zip_sha256,
    cast(manifest_sha256 as {{ dbt.type_string() }}) as manifest_sha256
from source
