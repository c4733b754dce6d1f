"""Cloud ingest: the uplink from gateways into the warehouse (idempotently) and the raw Parquet lake."""
