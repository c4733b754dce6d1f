"""Optional Pi-local climate: a DHT22 on the Pi itself, reported as a configured climate device's telemetry.

adafruit-circuitpython-dht is imported only when `[alarm.climate]` is configured; anything with `read()` will do
(tests use a fake)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from protocol import ConfigError, Kind, Reading, Telemetry

logger = logging.getLogger(__name__)


class ClimateSource(Protocol):
    """A temperature/humidity sensor."""

    def read(self) -> tuple[float, float]:
        """(°C, %RH); raises OSError or RuntimeError when the read failed."""


class Dht22:
    """A DHT22 through adafruit-circuitpython-dht on a board pin such as "D4"."""

    def __init__(self, pin: str) -> None:
        try:
            import adafruit_dht
            import board
        except ImportError as exc:
            raise ConfigError(
                "alarm.climate: the DHT22 needs adafruit-circuitpython-dht (pip install adafruit-circuitpython-dht)"
            ) from exc
        try:
            self._sensor: Any = adafruit_dht.DHT22(getattr(board, pin), use_pulseio=False)
        except AttributeError as exc:
            raise ConfigError(f"alarm.climate.pin: the board has no pin {pin!r}") from exc

    def read(self) -> tuple[float, float]:
        """One measurement; the library raises RuntimeError for a bad checksum or a missed edge."""
        temperature, humidity = self._sensor.temperature, self._sensor.humidity
        if temperature is None or humidity is None:
            raise RuntimeError("no data")
        return float(temperature), float(humidity)


class PiClimate:
    """Reads the sensor every `every_s` and hands a telemetry message (value null + err on failure) to `publish`."""

    def __init__(
        self,
        source: ClimateSource,
        device: str,
        publish: Callable[[Telemetry], None],
        *,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source, self.device, self.publish, self.every_s, self.clock = source, device, publish, every_s, clock
        self.boot = secrets.token_hex(3)
        self.seq = 0
        self._failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pi-climate", daemon=True)

    def poll(self) -> Telemetry:
        """Read once and publish the message."""
        try:
            temperature, humidity = self.source.read()
            readings = (
                Reading(Kind.TEMPERATURE, round(temperature, 1), "°C"),
                Reading(Kind.HUMIDITY, round(humidity, 1), "%"),
            )
            if self._failing:
                self._failing = False
                logger.info("pi climate: the DHT22 reads again")
        except (OSError, RuntimeError) as exc:
            err = f"read failed: {exc}"[:120]
            readings = (Reading(Kind.TEMPERATURE, None, err=err), Reading(Kind.HUMIDITY, None, err=err))
            if not self._failing:
                self._failing = True
                logger.warning("pi climate: DHT22 read failed (%s); check the data wire and its 10k pull-up", exc)
        self.seq += 1
        msg = Telemetry(v=1, device=self.device, boot=self.boot, seq=self.seq, readings=readings, ts=self.clock())
        self.publish(msg)
        return msg

    def start(self) -> None:
        """Poll in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.poll()
