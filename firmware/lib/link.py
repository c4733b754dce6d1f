# Reconnect policy on top of mqtt.MQTTClient (like umqtt.robust over umqtt.simple): bounded exponential
# backoff with jitter, keepalive pings, a window of QoS 1 publishes awaiting PUBACK, and one log line
# when the link goes down and one when it comes back, never one per retry.
import random
import hal
from log import log


class Link:
    BACKOFF_MIN_MS = 500
    BACKOFF_MAX_MS = 30000  # a home broker that is down for minutes gets a try every ~30 s
    WINDOW = 32  # QoS 1 publishes in flight; lwIP on the ESP32 buffers ~5.7 KB per socket
    PONG_WAIT_MS = 10000  # no PINGRESP within this: the link is dead even if TCP has not noticed

    def __init__(self, client, on_connect):
        self.client = client
        self.on_connect = on_connect  # called after CONNACK; publishes status, subscribes, resends
        self.up = False
        self.was_up = None  # None until the first attempt: the first failure is logged too
        self.inflight = 0
        self.next_try = hal.ticks_ms()
        self.backoff = self.BACKOFF_MIN_MS
        self.last_io = 0
        self.ping_at = 0
        self.failures = 0
        client.on_puback = self._puback

    def _puback(self, pid):
        if self.inflight:
            self.inflight -= 1

    def can_send(self):
        return self.up and self.inflight < self.WINDOW

    def down(self, why):
        """Drop the connection and schedule the next attempt with backoff and jitter."""
        if self.up or self.was_up is None:
            log("W", "mqtt down: %s" % why)
        self.up = False
        self.was_up = False
        self.inflight = 0
        self.client.close()
        now = hal.ticks_ms()
        jitter = self.backoff // 2 + random.getrandbits(16) % (self.backoff // 2 + 1)
        self.next_try = hal.ticks_add(now, jitter)
        self.backoff = min(self.backoff * 2, self.BACKOFF_MAX_MS)
        self.failures += 1

    def poll(self, now):
        """Connect when due, handle waiting packets, keep the connection alive; never raises."""
        if not self.up:
            if hal.ticks_diff(now, self.next_try) < 0:
                return
            if not hal.net_up():
                hal.net_kick()  # ask the Wi-Fi driver to join again, at the same backoff pace
                self.down("no network")
                return
            try:
                self.client.connect(clean=True)
                self.up = True
                self.inflight = 0
                self.last_io = now
                self.on_connect()
            except OSError as exc:
                self.down("connect failed: %r" % (exc,))
                return
            if not self.up:  # a publish in on_connect failed and already scheduled the retry
                return
            log("I", "mqtt up %s:%d" % (self.client.host, self.client.port))
            self.was_up = True
            self.backoff = self.BACKOFF_MIN_MS
        try:
            self.client.check_msg()
            self._keepalive(now)
        except OSError as exc:
            self.down(repr(exc))

    def _keepalive(self, now):
        # MQTT keepalive counts client->broker traffic only, so last_io moves on sends, not receives
        if self.client.pong_pending:
            if hal.ticks_diff(now, self.ping_at) > self.PONG_WAIT_MS:
                raise OSError("no PINGRESP")
        elif hal.ticks_diff(now, self.last_io) > self.client.keepalive * 500:  # ping at half the keepalive
            self.client.ping()
            self.ping_at = now
            self.last_io = now

    def publish(self, topic, msg, retain=False, qos=1):
        """Publish if connected; False (and the link marked down) when the socket fails."""
        if not self.up:
            return False
        try:
            self.client.publish(topic, msg, retain, qos)
        except OSError as exc:
            self.down(repr(exc))
            return False
        if qos:
            self.inflight += 1
        self.last_io = hal.ticks_ms()
        return True

    def subscribe(self, topic, qos=1):
        self.client.subscribe(topic, qos)
