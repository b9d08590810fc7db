-- Every extract handed to a researcher: who asked, who ran it, what, when, and its checksums.
select
    extract_id,
    extract_name,
    requester,
    purpose,
    requested_by,
    created_at,
    tables,
    warehouse_version,
    cells_hidden,
    package_path,
    zip_sha256,
    manifest_sha256,
    spec_path,
    spec_sha256
from {{ ref('stg_extracts') }}
