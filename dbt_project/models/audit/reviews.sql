-- Every review of a received file by the council (承認 / 差し戻し), oldest first in time.
select
    review_id,
    sha256,
    source,
    file_name,
    submitter_code,
    fiscal_year,
    decision,
    reviewed_at,
    reviewed_by,
    review_comment
from {{ ref('stg_reviews') }}
