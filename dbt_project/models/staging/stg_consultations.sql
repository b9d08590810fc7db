with source as (
    select * from {{ source('lake', 'consultations') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source_row as {{ dbt.type_int() }}) as source_row,
    cast(consultation_id as {{ dbt.type_string() }}) as consultation_id,
    cast(received_on as date) as received_on,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(requester_type as {{ dbt.type_string() }}) as requester_type,
    cast(topic as {{ dbt.type_string() }}) as topic,
    cast(residence_ward as {{ dbt.type_string() }}) as residence,
    cast(minutes as {{ dbt.type_int() }}) as minutes
from source
