"""The small parts: the outbox, fault rates, the [simulator] section, payloads the contract accepts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol
from protocol.config import DEVICE_KINDS, parse_home_config
from protocol.errors import ConfigError
from protocol.kinds import KINDS
from protocol.settings import EXAMPLE_CONFIG
from simulator.device import payload_for
from simulator.live import _home_ids
from simulator.options import Faults, simulator_section
from simulator.outbox import MAX_BACKOFF, Outbox


def test_watermark_frees_every_message_up_to_it() -> None:
    box = Outbox(10, 10.0)
    for seq in range(5):
        box.add(seq, b"m%d" % seq, now=0.0)
    assert box.ack(2) == 3 and len(box) == 2 and box.oldest_seq == 3
    assert box.ack(2) == 0  # a repeated watermark frees nothing


def test_a_full_outbox_drops_the_oldest_and_counts_it() -> None:
    box = Outbox(3, 10.0)
    for seq in range(5):
        box.add(seq, b"x", now=0.0)
    assert box.dropped == 2 and box.oldest_seq == 2 and len(box) == 3


def test_overdue_messages_come_back_with_backoff_oldest_first() -> None:
    box = Outbox(10, 10.0)
    for seq in range(3):
        box.add(seq, b"x", now=0.0).sent = True
    assert box.overdue(9.9, 10) == []
    first = box.overdue(10.0, 2)
    assert [p.seq for p in first] == [0, 1]
    assert [p.seq for p in box.overdue(10.0, 10)] == [2]
    assert box.overdue(29.0, 10) == []  # the second try waits twice as long
    assert [p.seq for p in box.overdue(30.0, 10)] == [0, 1, 2]
    for attempt in range(1, 10):
        now = 1e6 * attempt
        assert all(p.due - now <= MAX_BACKOFF for p in box.overdue(now, 10))  # retries never stop, but slow down


def test_without_resend_only_held_back_messages_are_released() -> None:
    box = Outbox(10, 10.0)
    box.add(0, b"sent", now=0.0).sent = True
    box.add(1, b"late", now=0.0, delay=20.0 - 10.0)
    assert [p.seq for p in box.overdue(25.0, 10, resend=False)] == [1]


def test_reconnect_resends_everything_and_restarts_the_clock() -> None:
    box = Outbox(10, 10.0)
    for seq in range(3):
        box.add(seq, b"x", now=0.0)
    assert [p.seq for p in box.everything(100.0)] == [0, 1, 2]
    assert box.overdue(105.0, 10) == []


def test_fault_rates_parse() -> None:
    faults = Faults.parse("duplicate=0.01, reorder=0.02,malformed=0.001,late=0.5,dropout=0")
    rates = (faults.duplicate, faults.reorder, faults.malformed, faults.late, faults.dropout)
    assert rates == (0.01, 0.02, 0.001, 0.5, 0)
    assert faults.any and not Faults.parse("").any and not Faults.parse(None).any


@pytest.mark.parametrize(
    ("text", "message"),
    [("explode=0.1", "must be NAME=RATE"), ("duplicate", "must be NAME=RATE"), ("late=often", "not a number"),
     ("dropout=1.5", "must be 0..1"), ("reorder=-0.1", "must be 0..1")],
)
def test_bad_fault_rates_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Faults.parse(text)


def test_simulator_section_defaults_and_values() -> None:
    base = EXAMPLE_CONFIG.read_text()
    assert simulator_section(parse_home_config(base)).outbox_size >= 1
    custom = parse_home_config(base.split("[simulator]")[0] + "\n[simulator]\nseed = 7\noutbox_size = 50\n")
    section = simulator_section(custom)
    assert (section.seed, section.outbox_size) == (7, 50)


@pytest.mark.parametrize(
    ("body", "key"),
    [("outbox_size = 0", "simulator.outbox_size"), ("seeed = 1", "simulator"),
     ("resend_timeout_s = -1", "simulator.resend_timeout_s"), ('fw = ""', "simulator.fw")],
)
def test_bad_simulator_section_names_file_and_key(body: str, key: str) -> None:
    config = parse_home_config(EXAMPLE_CONFIG.read_text().split("[simulator]")[0] + f"\n[simulator]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        simulator_section(config, "my-home.toml")
    assert str(info.value).startswith(f"my-home.toml: {key}")


def test_home_ids_for_many_homes() -> None:
    assert _home_ids("demo", 1) == ["demo"]
    assert _home_ids("demo", 3) == ["demo-1", "demo-2", "demo-3"]
    with pytest.raises(ConfigError, match="at least 1"):
        _home_ids("demo", 0)
    with pytest.raises(ConfigError, match="exceed"):
        _home_ids("x" * 39, 12)


def _value(kind: protocol.Kind) -> st.SearchStrategy[object]:
    spec = KINDS[kind]
    if spec.boolean:
        return st.booleans()
    return st.floats(spec.minimum, spec.maximum, allow_nan=False)


@given(data=st.data(), device_type=st.sampled_from(sorted(DEVICE_KINDS)), seq=st.integers(0, 2**40),
       ts=st.floats(1.7e9, 2.0e9))
def test_every_payload_the_simulator_can_build_passes_the_contract(
    data: st.DataObject, device_type: object, seq: int, ts: float
) -> None:
    kinds = DEVICE_KINDS[device_type]  # type: ignore[index]
    values = [data.draw(_value(k)) for k in kinds]
    payload = payload_for("plug-x", "0a1b2c3d", seq, ts=ts, kinds=kinds, values=values)
    msg = protocol.decode_telemetry(payload, received_at=ts)
    assert msg.key == ("plug-x", "0a1b2c3d", seq) and math.isclose(msg.ts or 0, ts, abs_tol=1e-3)


def test_overdue_resends_stay_within_the_device_batch_and_the_process_budget() -> None:
    import random

    from protocol.settings import load_settings
    from simulator.device import RESEND_BATCH, LiveDevice, LiveStats, Shared

    settings = load_settings(EXAMPLE_CONFIG, env={})
    shared = Shared(settings.edge_url, "fw", 1.0, 100, 10.0, Faults(), random.Random(1), LiveStats(), None,
                    lambda _d, _s: None, lambda _d, _u: None)
    device = LiveDevice(settings.home.devices[0], "demo", "dev", shared)
    sent: list[bytes] = []
    device.client.publish = lambda _t, payload, **_k: sent.append(payload)  # type: ignore[assignment,misc]
    device.client.loop_misc = lambda: None  # type: ignore[assignment,method-assign]
    device.connected = device.watermark_seen = True
    for seq in range(50):
        device.outbox.add(seq, b"%d" % seq, now=0.0).sent = True
    shared.resend_budget = 5
    device.service(100.0)
    assert len(sent) == 5 and shared.resend_budget == 0
    device.service(100.0)
    assert len(sent) == 5  # the budget is spent for this second
    shared.resend_budget = 1000
    device.service(100.0)
    assert len(sent) == 5 + RESEND_BATCH
    device.watermark_seen = False
    device.service(1e6)
    assert len(sent) == 5 + RESEND_BATCH  # no gateway has ever answered this boot: wait for a reconnect instead
