"""The cloud tier: idempotent ingest, the warehouse and its raw lake, batch ETL and streaming alerts."""
