-- Failed warehouse runs (the published warehouse stayed as it was each time).
select
    run_id,
    job_name,
    failed_at,
    failed_steps,
    message
from {{ ref('stg_run_failures') }}
