"""`section()`: errors in a service-owned section name the key, or the section when a field is missing."""

from __future__ import annotations

import msgspec
import pytest

from protocol import ConfigError
from protocol.config import section


class Knobs(msgspec.Struct, forbid_unknown_fields=True):
    size: int
    name: str = "x"


def test_bad_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^rules\[3\]\.size: Expected `int`"):
        section({"size": "big"}, Knobs, "rules[3]")


def test_missing_field_names_the_section() -> None:
    with pytest.raises(ConfigError, match=r"^gateway: Object missing required field `size`"):
        section({}, Knobs, "gateway")
