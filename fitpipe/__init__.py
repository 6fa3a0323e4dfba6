"""fitpipe: the fitness pipeline on one machine (a real local Kafka broker, a folder lake, DuckDB for Athena)."""
