with source as (
    select * from {{ source('lake', 'reminders') }}
)

select
    cast(reminder_id as {{ dbt.type_string() }}) as reminder_id,
    cast(source as {{ dbt.type_string() }}) as source,
    cast(submitter_code as {{ dbt.type_string() }}) as submitter_code,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(period_start as date) as period_start,
    cast(period_end as date) as period_end,
    cast(due_on as date) as due_on,
    cast(step as {{ dbt.type_string() }}) as step,
    cast(sent_at as {{ dbt.type_timestamp() }}) as sent_at,
    cast(sent_to as {{ dbt.type_string() }}) as sent_to
from source
