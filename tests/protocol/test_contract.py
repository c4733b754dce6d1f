"""Golden messages: each valid one decodes, each invalid one is refused for the reason its name states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import protocol
from protocol.schema import SCHEMA_DIR, render, schemas

EXAMPLES = Path(protocol.__file__).parent / "examples"
RECEIVED_AT = 1764460060.0
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_examples_decode(path: Path) -> None:
    msg = protocol.decode_telemetry(path.read_bytes(), received_at=RECEIVED_AT)
    raw = json.loads(path.read_bytes())
    assert msg.key == (raw["device"], raw["boot"], raw["seq"])
    assert [r.kind.value for r in msg.readings] == [r["kind"] for r in raw["readings"]]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_rejected_for_named_reason(path: Path) -> None:
    expected = protocol.Reason(path.stem.split("__")[0])
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.decode_telemetry(path.read_bytes(), received_at=RECEIVED_AT)
    assert info.value.reason is expected, info.value.detail


def test_every_reason_that_a_payload_alone_can_cause_has_a_golden_example() -> None:
    topic_or_config = {protocol.Reason.BAD_TOPIC, protocol.Reason.IDENTITY_MISMATCH, protocol.Reason.UNKNOWN_DEVICE}
    covered = {protocol.Reason(p.stem.split("__")[0]) for p in INVALID}
    assert set(protocol.Reason) - topic_or_config - covered == set()


def test_zero_is_a_value_not_missing() -> None:
    msg = protocol.decode_telemetry((EXAMPLES / "valid" / "zero-is-a-value.json").read_bytes())
    assert [r.value for r in msg.readings] == [0.0, 0.0, 0.0, False]
    assert all(r.err is None for r in msg.readings)


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_json_schema_matches_the_types(name: str) -> None:
    committed = (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    assert committed == render(schemas()[name]), "run `python -m protocol.schema` and commit the result"
