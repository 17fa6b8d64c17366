"""The SQLite store: schema and migrations, the writer and what it derives at ingest, every query."""
