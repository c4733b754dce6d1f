"""The cloud's small error tree; foreign errors (SQLAlchemy, OSError) are converted where they are met."""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error raised by the cloud package."""


class WarehouseUnavailableError(CloudError):
    """The database cannot be reached or refused a write; the caller pauses and retries."""


class EtlInputError(CloudError):
    """A sample log given to the ETL cannot be read or lacks the reading columns."""
