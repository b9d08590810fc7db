with source as (
    select * from {{ source('lake', 'run_failures') }}
)

select
    cast(run_id as {{ dbt.type_string() }}) as run_id,
    cast(job_name as {{ dbt.type_string() }}) as job_name,
    cast(failed_at as {{ dbt.type_timestamp() }}) as failed_at,
    cast(failed_steps as {{ dbt.type_string() }}) as failed_steps,
    cast(message as {{ dbt.type_string() }}) as message
from source
