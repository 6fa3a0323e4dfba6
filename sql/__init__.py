"""The named queries: one Athena (Trino) query per `*.sql` file, shipped inside the core as the package `core.sql`
and read by `core.queries`."""
