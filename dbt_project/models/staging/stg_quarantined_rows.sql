with source as (
    select * from {{ source('lake', 'quarantined_rows') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source as {{ dbt.type_string() }}) as source,
    cast(file_name as {{ dbt.type_string() }}) as file_name,
    cast(row_number as {{ dbt.type_int() }}) as row_number,
    cast(column_name as {{ dbt.type_string() }}) as column_name,
    cast(header as {{ dbt.type_string() }}) as header,
    cast(value as {{ dbt.type_string() }}) as cell_value,
    cast(rule as {{ dbt.type_string() }}) as rule,
    cast(message as {{ dbt.type_string() }}) as message
from source
