-- Indicator values of the planning unit's current file for each fiscal year.
{{ current_rows('stg_plan_indicators') }}
