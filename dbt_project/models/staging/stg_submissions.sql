with source as (
    select * from {{ source('lake', 'submissions') }}
)

select
    cast(entry_id as {{ dbt.type_string() }}) as entry_id,
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source as {{ dbt.type_string() }}) as source,
    cast(file_name as {{ dbt.type_string() }}) as file_name,
    cast(landing_path as {{ dbt.type_string() }}) as landing_path,
    cast(archive_path as {{ dbt.type_string() }}) as archive_path,
    cast(received_at as {{ dbt.type_timestamp() }}) as received_at,
    cast(file_modified_at as {{ dbt.type_timestamp() }}) as file_modified_at,
    cast(status as {{ dbt.type_string() }}) as intake_status,
    cast(duplicate_of as {{ dbt.type_string() }}) as duplicate_of,
    cast(submitter_code as {{ dbt.type_string() }}) as submitter_code,
    cast(submitter_name as {{ dbt.type_string() }}) as submitter_name,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(period_start as date) as period_start,
    cast(period_end as date) as period_end,
    cast(rows_read as {{ dbt.type_int() }}) as rows_read,
    cast(rows_loaded as {{ dbt.type_int() }}) as rows_loaded,
    cast(rows_quarantined as {{ dbt.type_int() }}) as rows_quarantined,
    cast(rows_skipped as {{ dbt.type_int() }}) as rows_skipped,
    cast(rows_rejected as {{ dbt.type_int() }}) as rows_rejected,
    cast(reason as {{ dbt.type_string() }}) as reason,
    cast(warnings as {{ dbt.type_string() }}) as warnings,
    cast(encoding as {{ dbt.type_string() }}) as file_encoding,
    cast(sheet as {{ dbt.type_string() }}) as sheet,
    cast(sent_by as {{ dbt.type_string() }}) as sent_by,
    cast(sent_at as {{ dbt.type_timestamp() }}) as sent_at
from source
