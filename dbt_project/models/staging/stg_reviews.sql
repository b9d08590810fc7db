with source as (
    select * from {{ source('lake', 'reviews') }}
)

select
    cast(review_id as {{ dbt.type_string() }}) as review_id,
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source as {{ dbt.type_string() }}) as source,
    cast(file_name as {{ dbt.type_string() }}) as file_name,
    cast(submitter_code as {{ dbt.type_string() }}) as submitter_code,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(decision as {{ dbt.type_string() }}) as decision,
    cast(reviewed_at as {{ dbt.type_timestamp() }}) as reviewed_at,
    cast(reviewed_by as {{ dbt.type_string() }}) as reviewed_by,
    cast(comment as {{ dbt.type_string() }}) as review_comment
from source
