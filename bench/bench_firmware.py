"""Firmware figures under MicroPython's unix port: heap, publish->receive latency, msgs/s (prints, never asserts).

Run: .venv/bin/python -m bench.bench_firmware [--seconds 5]
Everything runs on loopback against a private Mosquitto on a free port.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from iotpipe.broker import Mosquitto
from protocol.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from tests.firmware.fwnode import FirmwareNode, Gateway, build_for_unix, micropython, plug_config

RAW_PUBLISHER = """
import time, mqtt
c = mqtt.MQTTClient("bench-raw", "127.0.0.1", {port})
acked = [0]
def ack(pid):
    acked[0] += 1
c.on_puback = ack
c.connect()
chunks = [b'{{"v":1,"device":"bench-raw","boot":"00ff00ff","seq":', b'1', b',"ts":null,"readings":[]}}']
n = {n}
t0 = time.ticks_us()
for i in range(n):
    c.publish("bench/raw", chunks, False, 1)
    if i - acked[0] > 64:  # keep a window of 64 in flight, as link.Link does with its WINDOW
        c.check_msg()
while acked[0] < n:
    c.check_msg()
dt = time.ticks_diff(time.ticks_us(), t0) / 1e6
print(n / dt)
"""


def security_config(home: str, url: str, **sim: Any) -> dict[str, Any]:
    """A contact sensor whose door flaps every few ms: every change is a message, stamped and sent at once."""
    return {"home": home, "device": "bench-door", "role": "security", "mqtt": {"broker": url}, "loop_ms": 1,
            "security": {"contact_pin": 26, "debounce_ms": 0}, "sim": {"speed": 1, **sim}}


def latency_and_rate(server: Mosquitto, build: Path, work: Path, seconds: float, every_ms: int) -> dict[str, Any]:
    """Run a flapping door for `seconds`; latency = gateway receive time - the message's ts."""
    gateway = Gateway(server.host, server.port, f"bench-{every_ms}")
    node = FirmwareNode(work / f"door-{every_ms}", security_config(gateway.home, server.url,
                                                                   toggle=[26, every_ms, 1000]), build)
    try:
        node.until(lambda: len(gateway.on("telemetry")) > 5, 15, "first messages")
        start, first = time.time(), len(gateway.on("telemetry"))
        time.sleep(seconds)  # a measurement window, not a wait for a condition
        got = gateway.on("telemetry")
        rate = (len(got) - first) / (time.time() - start)
        lat = [(recv - json.loads(p)["ts"]) * 1000 for _, p, recv in got[first:]]
        stats = node.until(node.stats, 10, "a stats line (every 5 s)")
    finally:
        node.close()
        gateway.close()
    lat.sort()
    return {"n": len(lat), "rate": rate, "p50": statistics.median(lat), "p99": lat[int(len(lat) * 0.99) - 1],
            "max": lat[-1], "heap_peak": stats.get("heap_peak"), "heap_free": stats.get("heap_free")}


def smallest_heap(server: Mosquitto, build: Path, work: Path) -> str:
    """The smallest heap (4 KiB steps) in which the plug node starts, connects and reports for 3 s."""
    ok = "none"
    for kib in range(64, 36, -4):
        node = FirmwareNode(work / f"heap-{kib}", plug_config(f"heap-{kib}", server.url, power_ramp=100,
                                                              run_for_s=15), build, heap=f"{kib}k")
        code = node.proc.wait(60)
        node.close()
        if code != 0 or "MemoryError" in node.output():
            break
        ok = f"{kib} KiB"
    return ok


def raw_publish_rate(server: Mosquitto, build: Path, n: int = 20000) -> float:
    """QoS 1 msgs/s of the bare MQTT client (no node loop, no outbox), a window of 64 in flight."""
    code = RAW_PUBLISHER.format(port=server.port, n=n)
    env = {"MICROPYPATH": f"{build / 'unix'}:{build / 'lib'}"}
    out = subprocess.run([micropython(), "-X", "heapsize=64k", "-c", code], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    return float(out.stdout.strip())


def main() -> None:
    """Build, start a private broker, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measurement window per run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build = build_for_unix(work / "build")
        with Mosquitto(work / "broker") as server:
            paced = latency_and_rate(server, build, work, args.seconds, every_ms=20)
            flat_out = latency_and_rate(server, build, work, args.seconds, every_ms=1)
            raw = raw_publish_rate(server, build)
            heap = smallest_heap(server, build, work)
    print("firmware under the MicroPython unix port, -X heapsize=64k, loopback Mosquitto")
    for name, r in (("door every 20 ms (50 msg/s offered)", paced), ("door every loop (as fast as it goes)", flat_out)):
        print(f"  {name}: {r['n']} msgs, {r['rate']:.0f} msg/s received, publish->receive latency "
              f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms (ts has 1 ms resolution)")
        print(f"    heap: peak {r['heap_peak']} B in use (sampled before each gc.collect), "
              f"{r['heap_free']} B free after collect")
    print(f"  bare MQTT client: {raw:.0f} QoS 1 msgs/s (window 64)")
    print(f"  smallest heap the plug node runs in (4 KiB steps): {heap}")
    if args.json:
        figures: dict[str, Any] = {"bare_client_msg_per_s": raw, "smallest_heap": heap}
        for key, r in (("paced", paced), ("flat_out", flat_out)):
            figures |= {f"{key}_msg_per_s": r["rate"], f"{key}_p50_ms": r["p50"], f"{key}_p99_ms": r["p99"],
                        f"{key}_heap_peak_b": r["heap_peak"], f"{key}_heap_free_b": r["heap_free"]}
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
