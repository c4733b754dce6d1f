"""Firmware modules run one by one under MicroPython: MQTT bytes, outbox, kinds table, wire format, config."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

import protocol
from iotpipe.firmware_cmd import FIRMWARE_DIR
from tests.firmware.fwnode import build_for_unix, run_snippet

FAKE_SOCKET = """
class FakeSock:
    def __init__(self, incoming=b''):
        self.inp = incoming
        self.out = bytearray()
        self.blocking = True
    def setblocking(self, flag):
        self.blocking = flag
    def settimeout(self, t):
        self.blocking = True
    def read(self, n):
        if not self.inp:
            return None if not self.blocking else b''
        chunk, self.inp = self.inp[:n], self.inp[n:]
        return chunk
    def write(self, data):
        self.out += bytes(data)
        return len(data)
    def close(self):
        pass
"""


@pytest.fixture(scope="module")
def fw_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every firmware file compiled with mpy-cross (the build itself is the 'compiles' check)."""
    return build_for_unix(tmp_path_factory.mktemp("fw-units"))


def mqtt_string(s: str | bytes) -> bytes:
    """An MQTT UTF-8 string: two-byte length, then the bytes."""
    data = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(data)) + data


def test_every_firmware_file_compiles_with_mpy_cross(fw_build: Path) -> None:
    sources = {p.stem for p in (FIRMWARE_DIR / "lib").glob("*.py")}
    assert sources and sources == {p.stem for p in (fw_build / "lib").glob("*.mpy")}
    assert (fw_build / "unix" / "hal.mpy").is_file()
    for entry in ("boot.py", "main.py"):  # the board runs these two by name, from source
        assert (fw_build / entry).read_text() == (FIRMWARE_DIR / entry).read_text()


@pytest.mark.parametrize(("n", "encoded"), [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                            (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
                                            (2097152, b"\x80\x80\x80\x01")])
def test_remaining_length_encoding(fw_build: Path, n: int, encoded: bytes) -> None:
    out = run_snippet(f"import mqtt; print(mqtt.varint({n}).hex())", fw_build)
    assert bytes.fromhex(out.strip()) == encoded


def test_connect_packet_with_credentials_and_will(fw_build: Path) -> None:
    code = FAKE_SOCKET + """
import mqtt
c = mqtt.MQTTClient("plug-1", "h", 1883, "dev", "s3cret", keepalive=30)
c.set_last_will("iot/h/plug-1/status", b'{"online":false}', retain=True, qos=1)
s = FakeSock(b"\\x20\\x02\\x00\\x00")
print(c.connect(clean=True, sock=s), s.out.hex())
"""
    present, sent = run_snippet(code, fw_build).split()
    body = (mqtt_string("MQTT") + b"\x04" + bytes([0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02]) + b"\x00\x1e"
            + mqtt_string("plug-1") + mqtt_string("iot/h/plug-1/status") + mqtt_string(b'{"online":false}')
            + mqtt_string("dev") + mqtt_string("s3cret"))
    assert bytes.fromhex(sent) == b"\x10" + bytes([len(body)]) + body
    assert present == "0"


def test_connack_refusal_is_an_oserror(fw_build: Path) -> None:
    code = FAKE_SOCKET + """
import mqtt
c = mqtt.MQTTClient("d", "h")
try:
    c.connect(sock=FakeSock(b"\\x20\\x02\\x00\\x05"))
except OSError as e:
    print("refused", e)
"""
    assert run_snippet(code, fw_build).startswith("refused connection refused, code 5")


def test_publish_subscribe_ping_bytes_and_puback_matching(fw_build: Path) -> None:
    code = FAKE_SOCKET + """
import mqtt
c = mqtt.MQTTClient("d", "h")
c.connect(sock=FakeSock(b"\\x20\\x02\\x00\\x00"))
acked = []
c.on_puback = acked.append
s = c.sock
s.out = bytearray()
p1 = c.publish("a/b", [b'{"x":', b'1}'], retain=False, qos=1)
p2 = c.publish("a/b", b"hi", retain=True, qos=0)
p3 = c.subscribe("a/set", 1)
c.ping()
print(p1, p2, p3, s.out.hex())
s.inp = b"\\x40\\x02\\x00\\x01" + b"\\x90\\x03\\x00\\x02\\x01" + b"\\xd0\\x00"
print(c.check_msg(), acked, c.pong_pending)
"""
    first, second = run_snippet(code, fw_build).splitlines()
    p1, p2, p3, sent = first.split()
    assert (p1, p2, p3) == ("1", "0", "2")
    pub1 = b"\x32" + bytes([2 + 3 + 2 + 7]) + mqtt_string("a/b") + b"\x00\x01" + b'{"x":1}'
    pub2 = b"\x31" + bytes([2 + 3 + 2]) + mqtt_string("a/b") + b"hi"
    sub = b"\x82" + bytes([2 + 2 + 5 + 1]) + b"\x00\x02" + mqtt_string("a/set") + b"\x01"
    assert bytes.fromhex(sent) == pub1 + pub2 + sub + b"\xc0\x00"
    assert second == "3 [1] False"


def test_incoming_qos1_publish_is_handed_on_and_acknowledged(fw_build: Path) -> None:
    body = mqtt_string("iot/h/d/set") + b"\x12\x34" + b'{"switch": true}'
    packet = b"\x32" + bytes([len(body)]) + body
    code = FAKE_SOCKET + f"""
import mqtt
c = mqtt.MQTTClient("d", "h")
c.connect(sock=FakeSock(b"\\x20\\x02\\x00\\x00"))
got = []
c.on_message = lambda t, m: got.append((t, bytes(m)))
c.sock.out = bytearray()
c.sock.inp = bytes.fromhex("{packet.hex()}")
c.check_msg()
print(got[0][0], got[0][1].hex(), c.sock.out.hex())
"""
    topic, payload, sent = run_snippet(code, fw_build).split()
    assert topic == "iot/h/d/set" and bytes.fromhex(payload) == b'{"switch": true}'
    assert bytes.fromhex(sent) == b"\x40\x02\x12\x34"


def test_broker_closing_the_socket_is_an_oserror(fw_build: Path) -> None:
    code = FAKE_SOCKET + """
import mqtt
c = mqtt.MQTTClient("d", "h")
s = FakeSock(b"\\x20\\x02\\x00\\x00")
c.connect(sock=s)
s.read = lambda n: b''
try:
    c.check_msg()
except OSError as e:
    print("closed")
"""
    assert run_snippet(code, fw_build).strip() == "closed"


def test_outbox_keeps_until_watermark_and_drops_oldest_counted(fw_build: Path) -> None:
    code = """
import outbox, kinds
b = outbox.Outbox(10)
for seq in range(1, 5):
    b.add(seq, 1764460000, 125, [(kinds.POWER, 100.0 * seq, 0), (kinds.SWITCH, True, 0)])
print(len(b), b.readings_used(), b.dropped)
lost = b.add(5, 0, 0, [(kinds.POWER, 0.0, 0), (kinds.ENERGY, 1.5, 0), (kinds.VOLTAGE, None, kinds.ERR_NO_SIGNAL)])
print(lost, len(b), b.dropped, [b.seq[s] for s in b.due(0, 10000)])
for s in b.due(0, 10000):
    b.mark_sent(s, 0)
print([b.seq[s] for s in b.due(5000, 10000)], [b.seq[s] for s in b.due(10000, 10000)])
print(b.release(3), len(b), list(b.readings(b.head)))
b.unsend_all()
print([b.seq[s] for s in b.due(0, 10000)], b.release(99), len(b), b.readings_used())
"""
    lines = run_snippet(code, fw_build).splitlines()
    assert lines[0] == "4 8 0"
    assert lines[1] == "1 4 1 [2, 3, 4, 5]", "3 more readings in a 10-reading box: the oldest message goes"
    assert lines[2] == "[] [2, 3, 4, 5]", "nothing due before the resend timeout, everything after"
    assert lines[3] == "2 2 [(7, 400.0, 0), (6, 1.0, 0)]", "seq 2 and 3 freed; booleans are stored as 1.0/0.0"
    assert lines[4] == "[4, 5] 2 0 0"


def test_outbox_holds_its_full_capacity(fw_build: Path) -> None:
    code = """
import outbox, kinds
b = outbox.Outbox(200)
for seq in range(1, 201):
    b.add(seq, 1764460000 + seq, 999, [(kinds.MOTION, seq % 2 == 0, 0)])
print(len(b), b.dropped, b.seq[(b.head + 199) % 200], b.ts_s[(b.head + 199) % 200])
print(b.add(201, 0, 0, [(kinds.MOTION, True, 0)]), b.dropped, b.seq[b.head], len(b))
"""
    assert run_snippet(code, fw_build).splitlines() == ["200 0 200 1764460200", "1 1 2 200"]


def test_kinds_table_is_in_step_with_protocol(fw_build: Path) -> None:
    code = "import kinds, json; print(json.dumps([list(k) for k in kinds.KINDS]))"
    table = json.loads(run_snippet(code, fw_build))
    assert [row[0] for row in table] == [k.value for k in protocol.Kind]
    for name, unit, lo, hi, decimals, *_ in table:
        spec = protocol.KINDS[protocol.Kind(name)]
        assert (unit, lo, hi, decimals) == (spec.unit, spec.minimum, spec.maximum, spec.precision), name


def test_wire_messages_pass_the_contract(fw_build: Path) -> None:
    code = """
import wire, kinds
def show(chunks):
    print(b"".join(chunks).decode())
c = []
show(wire.telemetry(c, "plug-kettle", "9f3a1c2b", 4711, 1764460000, 125,
     [(kinds.POWER, 1830.5, 0), (kinds.ENERGY, 12.034, 0), (kinds.SWITCH, True, 0)]))
show(wire.telemetry(c, "hall", "00ff00ff", 1, 0, 0, [(kinds.TEMPERATURE, None, kinds.ERR_TIMEOUT),
     (kinds.POWER, 0.0, 0), (kinds.CONTACT, False, 0), (kinds.TEMPERATURE, -12.26, 0)]))
print(wire.status("9f3a1c2b", 3, 5).decode())
print(wire.parse_ack(b'{"boot": "9f3a1c2b", "seq": 12}'), wire.parse_ack(b'nope'), wire.parse_ack(b'{"seq": 1}'))
print(wire.parse_command(b'{"switch": false}'), wire.parse_command(b'{"switch": 1}'), wire.parse_command(b'[]'))
print(kinds.check(kinds.POWER, 60000.0), kinds.check(kinds.HUMIDITY, float("nan")))
"""
    one, two, status, acks, commands, checks = run_snippet(code, fw_build).splitlines()
    msg = protocol.decode_telemetry(one.encode())
    assert msg.ts == 1764460000.125 and [r.value for r in msg.readings] == [1830.5, 12.034, True]
    msg = protocol.decode_telemetry(two.encode())
    assert msg.ts is None
    assert [(r.value, r.err) for r in msg.readings] == [(None, "timeout"), (0.0, None), (False, None), (-12.3, None)]
    assert protocol.decode_status(status.encode()).dropped == 3
    assert acks == "('9f3a1c2b', 12) None None"
    assert commands == "False None None"
    assert checks == "(None, 3) (None, 4)", "out of range and NaN become no value with a reason"


def test_config_example_passes_the_firmware_checks(fw_build: Path) -> None:
    example = json.loads((FIRMWARE_DIR / "config.example.json").read_text())
    for role in ("climate", "security", "plug"):
        cfg = {**example, "role": role}
        code = f"import config, json; c = config.check(json.loads({json.dumps(json.dumps(cfg))})); print(c['role'])"
        assert run_snippet(code, fw_build).strip() == role


@pytest.mark.parametrize(("patch", "message"), [
    ({"mqtt": {"broker": "http://x"}}, "mqtt.broker must be a URL like mqtt://192.168.1.10:1883, got 'http://x'"),
    ({"role": "toaster"}, "role must be climate | security | plug, got 'toaster'"),
    ({"interval_s": 0}, "interval_s must be a number in 1..3600, got 0"),
    ({"role": "plug", "plug": {"relay_pin": 12}}, "plug.cf_pin must be a number in 0..48, got None"),
])
def test_bad_config_names_the_key(fw_build: Path, patch: dict[str, object], message: str) -> None:
    example = json.loads((FIRMWARE_DIR / "config.example.json").read_text())
    cfg = {**example, **patch}
    code = f"""
import config, json
try:
    config.check(json.loads({json.dumps(json.dumps(cfg))}))
except config.ConfigError as e:
    print(e)
"""
    assert run_snippet(code, fw_build).strip() == f"config.json: {message}"
