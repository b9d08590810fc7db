-- Member facilities of the facility council's current survey for each fiscal year.
with facilities as (
    select * from {{ ref('stg_facility_initiatives') }}
),

current_submissions as (
    select submission_id from {{ ref('int_submissions_current') }}
    where is_current and source = 'facility_initiatives'
)

select
    facilities.*,
    (
        {%- for category in var('initiative_categories') %}
        facilities.{{ category.column }}{{ " or" if not loop.last }}
        {%- endfor %}
    ) as has_initiative
from facilities
inner join current_submissions
    on facilities.submission_id = current_submissions.submission_id
