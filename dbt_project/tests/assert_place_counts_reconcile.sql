-- Places in the mart equal the current submissions' rows in staging, per fiscal year.
-- Shown in Dagster as an asset check of marts/place_counts.
{{ config(meta={'dagster': {'ref': {'name': 'place_counts'}}}) }}

with current_rows as (
    {{ current_rows('stg_ibasho_survey') }}
),

staged as (
    select
        stg.fiscal_year,
        count(*) as places
    from current_rows as stg
    group by stg.fiscal_year
),

mart as (
    select
        fiscal_year,
        sum(places) as places
    from {{ ref('place_counts') }}
    group by fiscal_year
)

select
    coalesce(staged.fiscal_year, mart.fiscal_year) as fiscal_year,
    staged.places as staged_places,
    mart.places as mart_places
from staged
full outer join mart
    on staged.fiscal_year = mart.fiscal_year
where staged.places is null or mart.places is null or staged.places <> mart.places
