-- The actions counted in plan_progress equal the current files' rows in staging, per fiscal
-- year, and each row's self-rating counts add up to its actions.
-- Shown in Dagster as an asset check of marts/plan_progress.
{{ config(meta={'dagster': {'ref': {'name': 'plan_progress'}}}) }}

with current_rows as (
    {{ current_rows('stg_ward_action_plans') }}
),

staged as (
    select
        fiscal_year,
        count(*) as actions
    from current_rows
    group by fiscal_year
),

mart as (
    select
        fiscal_year,
        sum(actions) as actions,
        sum(rated_achieved + rated_mostly + rated_partly + rated_not + not_rated) as rated
    from {{ ref('plan_progress') }}
    group by fiscal_year
)

select
    coalesce(staged.fiscal_year, mart.fiscal_year) as fiscal_year,
    staged.actions as staged_actions,
    mart.actions as mart_actions,
    mart.rated as mart_rated
from staged
full outer join mart
    on staged.fiscal_year = mart.fiscal_year
where
    staged.actions is null
    or mart.actions is null
    or staged.actions <> mart.actions
    or mart.rated <> mart.actions
