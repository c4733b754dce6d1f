"""Live mode against a real Mosquitto: every kind arrives and decodes, watermarks, resends, commands, LWT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from paho.mqtt import publish

import protocol
from iotpipe.broker import Mosquitto, free_port
from protocol.config import DeviceType
from simulator import Faults, SimulatorError, run_live
from tests.simulator.conftest import Subscriber, example_text, settings_for, simulator
from tests.support import wait_for

DEVICES = 27


def devices_with(sub: Subscriber, suffix: str, check: Callable[[dict[str, object]], bool] = lambda _: True) -> set[str]:
    """Devices that sent at least one message on `suffix` passing `check`."""
    return {t.split("/")[2] for t, m in sub.json(suffix) if check(m)}


def latest(sub: Subscriber, home: str, device: str) -> protocol.Telemetry | None:
    """The last telemetry a device sent."""
    found = sub.on(f"{home}/{device}/telemetry")
    return protocol.decode_telemetry(found[-1][1]) if found else None


def test_every_device_kind_reports_telemetry_and_status_that_decode(broker: Mosquitto, home_id: str) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/#")
    settings = settings_for(broker.url, home_id)
    with simulator(settings, interval=1.0):
        wait_for(lambda: len(devices_with(sub, "/telemetry")) == DEVICES, what="telemetry of every device")
        wait_for(lambda: len(devices_with(sub, "/status", lambda m: m["online"] is True)) == DEVICES, what="status")
    for topic, payload in sub.on("/telemetry"):
        msg = protocol.decode_telemetry(payload, received_at=time.time())
        assert topic == protocol.topics.edge(home_id, msg.device, protocol.Channel.TELEMETRY)
        assert [r.kind for r in msg.readings] == list(settings.home.device(msg.device).kinds)  # type: ignore[union-attr]
    kinds = {r.kind for _, p in sub.on("/telemetry") for r in protocol.decode_telemetry(p).readings}
    assert kinds == set(protocol.Kind) - {protocol.Kind.CURRENT} | {protocol.Kind.CURRENT}
    statuses = [protocol.decode_status(p) for _, p in sub.on("/status")]
    assert {s.interval for s in statuses if s.online} == {1.0} and all(s.fw for s in statuses if s.online)
    wait_for(lambda: len(devices_with(sub, "/status", lambda m: m["online"] is False)) == DEVICES,
             what="offline status on a clean stop")
    sub.close()


def test_a_watermark_frees_the_outbox_and_a_wrong_boot_frees_nothing(broker: Mosquitto, home_id: str) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/#")
    with simulator(settings_for(broker.url, home_id), interval=1.0) as stats:
        wait_for(lambda: len(sub.on("plug-fridge/telemetry")) >= 3, what="fridge telemetry")
        fridge = latest(sub, home_id, "plug-fridge")
        assert fridge is not None
        ack = f"iot/{home_id}/plug-fridge/ack"
        publish.single(ack, json.dumps({"boot": "ffffffff", "seq": 10**6}), qos=1, port=broker.port)
        publish.single(ack, json.dumps({"boot": fridge.boot, "seq": fridge.seq}), qos=1, port=broker.port)
        wait_for(lambda: stats.acked > 0, what="the watermark to be applied")
        assert stats.acked == fridge.seq  # seqs 1..seq: a device counts from 1 at each boot
        kept = stats.kept
        keys = {protocol.decode_telemetry(p).key for _, p in sub.on("/telemetry")}
        for device in {k[0] for k in keys}:
            top = max(k for k in keys if k[0] == device)
            publish.single(f"iot/{home_id}/{device}/ack", json.dumps({"boot": top[1], "seq": top[2]}), qos=1,
                           port=broker.port)
        wait_for(lambda: stats.acked >= len(keys), what="every watermark applied")
        wait_for(lambda: stats.kept < kept, what="outboxes to shrink")
    sub.close()


def test_without_watermarks_the_outbox_resends_after_a_broker_restart(
    make_broker: Callable[..., Mosquitto], home_id: str, tmp_path: Path
) -> None:
    server = make_broker()
    sub = Subscriber(server.port, f"iot/{home_id}/+/telemetry", client_id=f"{home_id}-sub"[:40])
    ledger = tmp_path / "ledger.csv"
    with simulator(settings_for(server.url, home_id), interval=1.0, ledger=ledger) as stats:
        wait_for(lambda: len(devices_with(sub, "/telemetry")) == DEVICES, what="all devices")
        server.stop()
        during = stats.generated
        wait_for(lambda: stats.generated > during + 2 * DEVICES, what="readings generated while the broker is down")
        resent = stats.resent
        server.start()
        wait_for(lambda: stats.online == DEVICES, timeout=30, what="every device back online")
        wait_for(lambda: stats.resent >= resent + DEVICES, timeout=20, what="resends after the reconnect")
        until = time.time() - 1.0
    rows = [line.split(",") for line in ledger.read_text().splitlines()[1:]]
    generated = {(d, b, int(s)): float(ts) for _, d, b, s, ts in rows}
    assert len(generated) == len(rows)  # every generated key is unique
    wanted = {k for k, ts in generated.items() if ts < until}

    def received() -> dict[tuple[str, str, int], set[bytes]]:
        seen: dict[tuple[str, str, int], set[bytes]] = defaultdict(set)
        for _, payload in sub.on("/telemetry"):
            seen[protocol.decode_telemetry(payload).key].add(payload)
        return seen

    wait_for(lambda: wanted <= set(received()), timeout=20, what="every generated key to arrive")
    seen = received()
    assert all(len(payloads) == 1 for payloads in seen.values())  # a resend is byte-identical: same key, same ts
    assert set(seen) <= set(generated)  # nothing arrives that was not generated
    assert sum(len(sub.on(f"{d}/telemetry")) for d in {k[0] for k in seen}) > len(seen)  # there were repeats
    sub.close()


def test_once_a_gateway_acknowledges_an_unacknowledged_message_is_resent_after_the_timeout(
    broker: Mosquitto, home_id: str
) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/plug-fridge/telemetry")
    settings = settings_for(broker.url, home_id, "resend_timeout_s = 0.5\n")
    with simulator(settings, interval=1.0) as stats:
        wait_for(lambda: len(sub.on("/telemetry")) >= 2, what="fridge telemetry")
        first = protocol.decode_telemetry(sub.on("/telemetry")[0][1])
        # A watermark stuck at the first message: the broker "lost" the rest, so they come again with their keys.
        publish.single(f"iot/{home_id}/plug-fridge/ack", json.dumps({"boot": first.boot, "seq": first.seq}), qos=1,
                       port=broker.port)
        wait_for(lambda: stats.resent > 0, what="a resend after the timeout")
        wait_for(lambda: len({p for _, p in sub.on("/telemetry")}) < len(sub.on("/telemetry")), what="a repeat")
    by_key: dict[tuple[str, str, int], set[bytes]] = defaultdict(set)
    for _, payload in sub.on("/telemetry"):
        by_key[protocol.decode_telemetry(payload).key].add(payload)
    assert all(len(p) == 1 for p in by_key.values())  # same key, same bytes, same ts
    sub.close()


def test_a_full_outbox_drops_the_oldest_and_says_so_in_the_status(broker: Mosquitto, home_id: str) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/plug-kettle/status")
    with simulator(settings_for(broker.url, home_id, "outbox_size = 2\n"), interval=1.0) as stats:
        wait_for(lambda: stats.dropped > 0, what="drops from full outboxes")
        wait_for(lambda: any(protocol.decode_status(p).dropped > 0 for _, p in sub.on("/status")),
                 timeout=20, what="the drop count in the retained status")
    sub.close()


def test_set_switches_a_plug_off_and_a_light_on(broker: Mosquitto, home_id: str) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/#")
    with simulator(settings_for(broker.url, home_id), interval=30.0) as stats:
        wait_for(lambda: latest(sub, home_id, "plug-fridge") is not None, what="fridge telemetry")
        before = len(sub.on("plug-fridge/telemetry"))
        publish.single(f"iot/{home_id}/plug-fridge/set", b'{"switch": false}', qos=1, port=broker.port)
        wait_for(lambda: len(sub.on("plug-fridge/telemetry")) > before, what="an answer to the command")
        answer = latest(sub, home_id, "plug-fridge")
        assert answer is not None
        values = {r.kind: r.value for r in answer.readings}
        assert values[protocol.Kind.SWITCH] is False
        assert values[protocol.Kind.POWER] == 0.0 and values[protocol.Kind.CURRENT] == 0.0
        publish.single(f"iot/{home_id}/light-hallway/set", b'{"switch": true}', qos=1, port=broker.port)
        wait_for(lambda: any(r.kind is protocol.Kind.SWITCH and r.value is True
                             for _, p in sub.on("light-hallway/telemetry")
                             for r in protocol.decode_telemetry(p).readings), what="the light on")
        lit = latest(sub, home_id, "light-hallway")
        assert lit is not None and {r.kind: r.value for r in lit.readings}[protocol.Kind.POWER] > 0  # type: ignore[operator]
        publish.single(f"iot/{home_id}/door-front/set", b'{"switch": true}', qos=1, port=broker.port)
        publish.single(f"iot/{home_id}/plug-fridge/set", b'not json', qos=1, port=broker.port)
        publish.single(f"iot/{home_id}/plug-fridge/set", b'{"switch": true}', qos=1, port=broker.port)
        wait_for(lambda: stats.commands >= 3, what="the commands obeyed")
        assert stats.commands == 3  # a contact sensor has no switch; junk is ignored
    sub.close()


def test_the_lwt_marks_every_device_offline_when_the_process_is_killed(
    broker: Mosquitto, home_id: str, tmp_path: Path
) -> None:
    config = tmp_path / "home.toml"
    config.write_text(example_text(home_id))
    sub = Subscriber(broker.port, f"iot/{home_id}/+/status")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}
    log = tmp_path / "simulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iotpipe", "--config", str(config), "--edge-url", broker.url, "simulate", "live",
             "--interval", "1"], stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_for(lambda: len(devices_with(sub, "/status", lambda m: m["online"] is True)) == DEVICES
                 or proc.poll() is not None, timeout=20, what="every device online")
        assert proc.poll() is None, log.read_text()
        proc.kill()
        proc.wait(10)
        wait_for(lambda: len(devices_with(sub, "/status", lambda m: m == {"online": False})) == DEVICES,
                 timeout=20, what="the LWT of every device")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    sub.close()


def test_faults_on_demand(broker: Mosquitto, home_id: str, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/#")
    faults = Faults.parse("duplicate=0.2,malformed=0.2,reorder=0.2,dropout=0.01")
    ledger = tmp_path / "ledger.csv"
    with simulator(settings_for(broker.url, home_id), interval=1.0, faults=faults, ledger=ledger) as stats:
        wait_for(lambda: all(stats.faults.get(f, 0) >= 3 for f in ("duplicate", "malformed", "reorder", "dropout")),
                 timeout=30, what="every fault injected")
        wait_for(lambda: devices_with(sub, "/status", lambda m: m == {"online": False}), what="a dropout's LWT")
    reasons: dict[protocol.Reason, int] = defaultdict(int)
    keys = []
    for _, payload in sub.on("/telemetry"):
        try:
            keys.append(protocol.decode_telemetry(payload).key)
        except protocol.ProtocolError as exc:
            reasons[exc.reason] += 1
    assert set(reasons) == {protocol.Reason.MALFORMED_JSON}
    assert len(keys) > len(set(keys))  # duplicates carry the same key
    generated = {(d, b, int(s)) for _, d, b, s, _ in (r.split(",") for r in ledger.read_text().splitlines()[1:])}
    assert set(keys) <= generated
    sub.close()


def test_homes_multiply_with_their_own_ids(broker: Mosquitto, home_id: str) -> None:
    home = home_id[:30].rstrip("-")
    sub = Subscriber(broker.port, "iot/+/+/telemetry")
    with simulator(settings_for(broker.url, home), interval=1.0, homes=2):
        wait_for(lambda: {t.split("/")[1] for t, _ in sub.on("/telemetry")} >= {f"{home}-1", f"{home}-2"},
                 what="both homes")
    assert not [t for t, _ in sub.on("/telemetry") if t.split("/")[1] == home]
    sub.close()


def test_speed_runs_simulated_time_faster(broker: Mosquitto, home_id: str) -> None:
    sub = Subscriber(broker.port, f"iot/{home_id}/meter-home/telemetry")

    def energy() -> list[float]:
        return [float(r.value) for _, p in sub.on("/telemetry") for r in protocol.decode_telemetry(p).readings  # type: ignore[arg-type]
                if r.kind is protocol.Kind.ENERGY]

    with simulator(settings_for(broker.url, home_id), interval=1.0, speed=3600.0):
        # An hour of simulated time per second: the home uses well over 0.05 kWh in a few seconds.
        wait_for(lambda: len(energy()) > 1 and energy()[-1] - energy()[0] > 0.05, what="the meter to run fast")
    sub.close()


def test_an_unreachable_broker_at_start_is_one_clear_error(home_id: str) -> None:
    import threading

    settings = settings_for(f"mqtt://127.0.0.1:{free_port()}", home_id)
    with pytest.raises(SimulatorError, match="not reachable"):
        run_live(settings, stop=threading.Event())


def test_only_plugs_and_lights_obey(home_id: str) -> None:
    settings = settings_for("mqtt://127.0.0.1:1", home_id)
    switchable = {d.id for d in settings.home.devices if d.type in (DeviceType.PLUG, DeviceType.LIGHT)}
    assert switchable == {d.id for d in settings.home.devices if d.switchable}


def test_devices_speak_tls_when_the_url_says_mqtts(make_broker: Callable[..., Mosquitto], home_id: str,
                                                   tmp_path: Path) -> None:
    from iotpipe.certs import ca_paths, issue_server, make_ca

    make_ca(tmp_path)
    server_cert = issue_server(tmp_path, ["127.0.0.1"])
    tls_port = free_port()
    server = make_broker(extra=f"listener {tls_port} 127.0.0.1\ncertfile {server_cert.cert}\n"
                               f"keyfile {server_cert.key}\n")
    sub = Subscriber(server.port, f"iot/{home_id}/#")
    url = f"mqtts://127.0.0.1:{tls_port}?ca={ca_paths(tmp_path).cert}"
    with simulator(settings_for(url, home_id), interval=1.0) as stats:
        wait_for(lambda: len(devices_with(sub, "/telemetry")) == DEVICES, what="telemetry over TLS")
        publish.single(f"iot/{home_id}/plug-tv/set", b'{"switch": false}', qos=1, port=server.port)
        wait_for(lambda: stats.commands == 1, what="a command read over TLS")
    sub.close()
