"""welfare-warehouse: Dagster code location and the `welfare` command line."""
