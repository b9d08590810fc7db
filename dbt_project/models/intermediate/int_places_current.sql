-- The places of each ward's current submission, with an identity that follows a place across
-- years: the ward's own activity id, else ward + district + name, both by their normalized keys
-- (NFKC, no spaces: the reader writes them beside the names, which are kept as sent).
with places as (
    {{ current_rows('stg_ibasho_survey') }}
)

select
    places.*,
    coalesce(
        {{ dbt.concat(["places.ward_code", "'#'", "places.activity_id"]) }},
        {{ dbt.concat(["places.ward_code", "'|'", "places.district_key", "'|'",
                       "places.activity_name_key"]) }}
    ) as place_key
from places
