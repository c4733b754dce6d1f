"""Errors of the report: bad input named with the file or option it came from."""

from __future__ import annotations

from cloud.errors import CloudError


class ReportInputError(CloudError):
    """A period, a bench results file or an output path the report cannot use."""
