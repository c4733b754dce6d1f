"""The warehouse: typed schema, migrations, the write side for ingest/ETL and the read side for the dashboard."""
