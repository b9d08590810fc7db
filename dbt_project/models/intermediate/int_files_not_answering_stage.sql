-- Files that do not answer a stage of the survey calendar for what they hold (a source
-- contract's `stages`): an action plan with no actual value and no self-rating in any row is
-- no answer to its results, whenever it was sent (a spring plan sent again after the year).
select
    sha256,
    'ward_action_plans' as source,
    'results' as stage
from {{ ref('stg_ward_action_plans') }}
group by sha256
having count(actual_value) + count(self_rating) = 0
