-- Indicator values of the planning unit's current file for each fiscal year.
with indicators as (
    select * from {{ ref('stg_plan_indicators') }}
),

current_submissions as (
    select submission_id from {{ ref('int_submissions_current') }}
    where is_current and source = 'plan_indicators'
)

select indicators.*
from indicators
inner join current_submissions
    on indicators.submission_id = current_submissions.submission_id
