-- Consultations in the mart equal the distinct 受付番号 of the current exports in staging.
-- Shown in Dagster as an asset check of marts/consultation_volumes.
{{ config(meta={'dagster': {'ref': {'name': 'consultation_volumes'}}}) }}

with current_rows as (
    {{ current_rows('stg_consultations') }}
),

staged as (
    select
        stg.fiscal_year,
        count(distinct stg.consultation_id) as consultations
    from current_rows as stg
    group by stg.fiscal_year
),

mart as (
    select
        fiscal_year,
        sum(consultations) as consultations
    from {{ ref('consultation_volumes') }}
    group by fiscal_year
)

select
    coalesce(staged.fiscal_year, mart.fiscal_year) as fiscal_year,
    staged.consultations as staged_consultations,
    mart.consultations as mart_consultations
from staged
full outer join mart
    on staged.fiscal_year = mart.fiscal_year
where
    staged.consultations is null
    or mart.consultations is null
    or staged.consultations <> mart.consultations
