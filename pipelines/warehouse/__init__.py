"""Warehouse: dbt (running it, the parsed project, fingerprints), the engines (DuckDB, Spark)
behind one switch, publishing and rollback, and the warehouse's side of the mart checks."""
