-- The submission ledger (受付台帳): one row per file received, with its final status, the
-- reason a file was rejected or held, and who released a held file and why.
select {{ star_except(ref('int_submissions_current'), ['version_order']) }}
from {{ ref('int_submissions_current') }}
