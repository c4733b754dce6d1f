"""The edge rules service, assembled from the home config: rules and alarm, buzzer, notifications, alert log,
HTTP and CoAP intake, the arming button, Pi climate and Home Assistant discovery. `run()` serves until stopped."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from gateway.actions.alertlog import AlertLog
from gateway.actions.button import ArmButton
from gateway.actions.buzzer import Buzzer
from gateway.actions.climate import ClimateSource, Dht22, PiClimate
from gateway.actions.notify import Notifier
from gateway.actions.publish import Enqueue, UplinkSink
from gateway.discovery import publish_discovery
from gateway.intake.coap import CoapIntake
from gateway.intake.http import HttpIntake
from gateway.intake.relay import WatermarkRelay
from gateway.rules.config import AlarmSettings, parse_alarm, parse_rules
from gateway.rules.edge import AlertSink
from gateway.rules.runner import RulesRunner
from protocol import Channel, ConfigError, Telemetry, encode, topics
from protocol.settings import Settings

logger = logging.getLogger(__name__)


class EdgeService:
    """Everything of issue 4 around one RulesRunner; a context manager (`start()` / `stop()`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        pin_factory: Any = None,
        climate_source: ClimateSource | None = None,
        env: dict[str, str] | None = None,
        uplink: Enqueue | None = None,
    ) -> None:
        home = settings.home
        try:  # validate everything before anything starts; the one line names file and key
            self.alarm: AlarmSettings = parse_alarm(home)
            rules = parse_rules(home)
        except ConfigError as exc:
            raise ConfigError(f"{settings.config_path}: {exc}") from exc
        self.buzzer = self._buzzer(pin_factory)
        urls = [*self.alarm.notify.urls, *(os.environ if env is None else env).get("IOTPIPE_NOTIFY_URLS", "").split()]
        self.notifier = Notifier(urls, self.alarm.notify.min_severity) if urls else None
        self.log = AlertLog(settings.var / self.alarm.log)
        outbox = UplinkSink(uplink) if uplink is not None else None  # the spine's outbox, when it gives one
        sinks: list[AlertSink] = [s for s in (self.buzzer, outbox, self.notifier, self.log) if s is not None]
        self.runner = RulesRunner(home, settings.edge_url, sinks=sinks, clock=clock, settings=self.alarm, rules=rules)
        self.rules = self.runner.rules
        self.relay = WatermarkRelay(self.runner.client, home.home.id)
        self.runner.on_watermark.append(self.relay.on_watermark)
        self.runner.on_connected.append(self._discovery)
        self.http, self.coap = self._intakes(clock)
        self.button = (
            None if self.alarm.button_pin is None else ArmButton(self.alarm.button_pin, self.rules, factory=pin_factory)
        )
        self.climate: PiClimate | None = None
        try:
            self.climate = self._climate(climate_source, clock)
        except ConfigError as exc:  # the DHT22 library missing, or a pin the board lacks
            self.stop()
            raise ConfigError(f"{settings.config_path}: {exc}") from exc

    def _buzzer(self, pin_factory: Any) -> Buzzer | None:
        wanted = self.alarm.buzzer
        return Buzzer(wanted.pin, factory=pin_factory, siren_max_s=self.alarm.siren_max_s) if wanted.enabled else None

    def _discovery(self) -> None:
        publish_discovery(self.runner.client, self.runner.home, self.alarm.discovery_prefix)

    def _intakes(self, clock: Callable[[], float]) -> tuple[HttpIntake | None, CoapIntake | None]:
        """HTTP and CoAP, each off when its port is 0; both commit through the watermark relay."""
        home, where = self.runner.home, self.alarm.intake
        http = coap = None
        if where.http_port:
            http = HttpIntake(home, self.relay, rules=self.rules, host=where.host, port=where.http_port, clock=clock)
        if where.coap_port:
            coap = CoapIntake(home, self.relay, host=where.host, port=where.coap_port, clock=clock)
        return http, coap

    def _climate(self, source: ClimateSource | None, clock: Callable[[], float]) -> PiClimate | None:
        """The Pi's own DHT22, only when `[alarm.climate]` is configured (the library is imported only then)."""
        config = self.alarm.climate
        if config is None:
            return None
        home_id = self.runner.home_id

        def publish(msg: Telemetry) -> None:
            """The Pi's climate goes through the edge broker, like any device's."""
            self.runner.client.publish(topics.edge(home_id, msg.device, Channel.TELEMETRY), encode(msg), qos=1)

        return PiClimate(source or Dht22(config.pin), config.device, publish, every_s=config.every_s, clock=clock)

    def start(self) -> None:
        """Connect and serve; a taken intake port stops everything again and names its key (exit 78)."""
        self.runner.start()
        for key, intake in (("http_port", self.http), ("coap_port", self.coap)):
            try:
                if intake is not None:
                    intake.start()
            except OSError as exc:  # the fix is in the config: exit 78 rather than restart into the same wall
                self.stop()
                where = self.alarm.intake
                raise ConfigError(f"alarm.intake.{key}: cannot listen on {where.host} ({exc})") from exc
        if self.climate is not None:
            self.climate.start()
        logger.info(
            "edge rules started rules=%d buzzer=%s notify=%s http=%s coap=%s",
            len(self.rules.rules),
            bool(self.buzzer),
            bool(self.notifier),
            bool(self.http),
            bool(self.coap),
        )

    def stop(self) -> None:
        """Stop serving, then the runner; flush notifications and the log."""
        for part in (self.climate, self.coap, self.http):
            if part is not None:
                part.stop()
        self.runner.stop()
        for closing in (self.button, self.buzzer, self.notifier, self.log):
            if closing is not None:
                closing.close()

    def __enter__(self) -> EdgeService:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def run(settings: Settings, *, stop: threading.Event | None = None) -> None:
    """Run the edge rules service until `stop` is set (or SIGTERM/SIGINT from the main thread)."""
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
    with EdgeService(settings):
        stop.wait()
