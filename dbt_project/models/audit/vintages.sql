-- Every vintage kept of the published warehouse: never rotated away (archive/vintages/<name>/).
select
    vintage,
    created_at,
    created_by,
    note,
    fiscal_year,
    warehouse_version,
    manifest_sha256
from {{ ref('stg_vintages') }}
