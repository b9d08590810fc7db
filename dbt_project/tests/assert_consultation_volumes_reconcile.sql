-- Every consultation (受付番号) of the current exports is counted once, and the mart adds them
-- up by fiscal year. Two checks, each row returned names what failed:
--   'consultation': a 受付番号 of the current exports' versions that count (those a closed
--     year does not hold back: macros/consultation_versions.sql) missing from
--     int_consultations_current, or one counted there that no such version gives;
--   'fiscal_year': a year whose total in the mart differs from the consultations counted in
--     it. A consultation is counted in the year of its newest version: a later export can
--     move it to another year (its 受付日 corrected), so staging rows are matched by 受付番号,
--     never added up by year.
-- Shown in Dagster as an asset check of marts/consultation_volumes. After an increment, the
-- consultations it chose again and the fiscal years they were or are in (the others did not
-- change); everything on a full refresh (macros/consultations_incremental.sql).
{{ config(meta={'dagster': {'ref': {'name': 'consultation_volumes'}}}) }}
{%- set touched = consultations_touched('fiscal_year') %}
{%- set chosen_again = consultations_test_scope('changed') %}

with staged_ids as (
    select distinct versions.consultation_id
    from ({{ consultation_versions(chosen_again) }}) as versions
    where versions.held_because is null
),

counted_ids as (
    select consultation_id
    from {{ ref('int_consultations_current') }}
    {%- if chosen_again %}
        where {{ chosen_again }}
    {%- endif %}
),

counted_by_year as (
    select
        fiscal_year,
        count(*) as consultations
    from {{ ref('int_consultations_current') }}
    {%- if touched %}
        where {{ touched }}
    {%- endif %}
    group by fiscal_year
),

mart as (
    select
        fiscal_year,
        sum(consultations) as consultations
    from {{ ref('consultation_volumes') }}
    {%- if touched %}
        where {{ touched }}
    {%- endif %}
    group by fiscal_year
)

select
    'consultation' as failed,
    coalesce(staged_ids.consultation_id, counted_ids.consultation_id) as consultation_id,
    cast(null as {{ dbt.type_int() }}) as fiscal_year,
    cast(null as {{ dbt.type_bigint() }}) as counted_consultations,
    cast(null as {{ dbt.type_bigint() }}) as mart_consultations
from staged_ids
full outer join counted_ids
    on staged_ids.consultation_id = counted_ids.consultation_id
where staged_ids.consultation_id is null or counted_ids.consultation_id is null

union all

select
    'fiscal_year' as failed,
    cast(null as {{ dbt.type_string() }}) as consultation_id,
    coalesce(counted_by_year.fiscal_year, mart.fiscal_year) as fiscal_year,
    counted_by_year.consultations as counted_consultations,
    mart.consultations as mart_consultations
from counted_by_year
full outer join mart
    on counted_by_year.fiscal_year = mart.fiscal_year
where
    counted_by_year.consultations is null
    or mart.consultations is null
    or counted_by_year.consultations <> mart.consultations
