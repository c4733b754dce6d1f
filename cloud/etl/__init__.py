"""Batch ETL (Stage 2): raw readings -> cleaned, flagged, aggregated tables; incremental and idempotent."""
