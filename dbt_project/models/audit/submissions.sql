-- The submission ledger (受付台帳): one row per file received, with its final status, the
-- reason a file was rejected or held, who released a held file and why, and how many of a
-- consultation export's consultations a closed year holds back.
with held as (
    select
        sha256,
        count(*) as consultations_held,
        {{ sorted_list(dbt.cast('held_for_year', dbt.type_string())) }}
            as consultations_held_for_years
    from {{ ref('consultations_held') }}
    group by sha256
)

select
    {{ star_except(ref('int_submissions_current'), ['version_order'], 'ledger') }},
    coalesce(held.consultations_held, 0) as consultations_held,
    held.consultations_held_for_years
from {{ ref('int_submissions_current') }} as ledger
left join held
    on ledger.sha256 = held.sha256
