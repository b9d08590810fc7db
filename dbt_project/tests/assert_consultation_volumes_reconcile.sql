-- Consultations in the mart equal the distinct 受付番号 of the current exports in staging.
-- Shown in Dagster as an asset check of marts/consultation_volumes. After an increment, for
-- the fiscal years it touched (the others' consultations did not change); every year on a
-- full refresh (macros/consultations_incremental.sql).
{{ config(meta={'dagster': {'ref': {'name': 'consultation_volumes'}}}) }}
{%- set touched = consultations_changed_years('fiscal_year') %}

with current_rows as (
    {{ current_rows('stg_consultations') }}
),

staged as (
    select
        stg.fiscal_year,
        count(distinct stg.consultation_id) as consultations
    from current_rows as stg
    {%- if touched %}
        where {{ touched }}
    {%- endif %}
    group by stg.fiscal_year
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
