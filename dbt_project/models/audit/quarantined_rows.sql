-- Every cell held back from the marts (保留行), with the rule it broke and the file it came from.
select
    quarantined.sha256,
    quarantined.source,
    quarantined.file_name,
    ledger.submitter_name,
    ledger.fiscal_year,
    ledger.status as submission_status,
    quarantined.row_number,
    quarantined.column_name,
    quarantined.header,
    quarantined.cell_value,
    quarantined.rule,
    quarantined.message
from {{ ref('stg_quarantined_rows') }} as quarantined
inner join {{ ref('int_submissions_current') }} as ledger
    on quarantined.sha256 = ledger.sha256
    and ledger.status in ('loaded', 'superseded', 'held')
