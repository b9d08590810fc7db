-- One current action-plan file per ward and fiscal year: the spring plan and the results file
-- never count together (the later replaces the earlier).
-- Shown in Dagster as an asset check of marts/plan_progress.
{{ config(meta={'dagster': {'ref': {'name': 'plan_progress'}}}) }}

select
    fiscal_year,
    ward_code,
    count(distinct sha256) as current_files
from {{ ref('int_action_plans_current') }}
group by fiscal_year, ward_code
having count(distinct sha256) > 1
