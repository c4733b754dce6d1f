# The node loop: sensors -> change detection -> outbox -> MQTT, one role per config (climate, security,
# plug). Each reading stays in the outbox until the gateway's watermark on `ack` passes its seq.
import gc
import sys
import hal
import kinds
import wire
from outbox import Outbox
from link import Link
from mqtt import MQTTClient
from log import log

STATS_MS = 5000
RESYNC_MS = 6 * 3600 * 1000  # the ESP32 RTC drifts several seconds a day
RETRY_MS = 60000  # while the clock was never set, ts is null: try NTP again every minute


class Clock:
    """Keeps the RTC set from NTP; `hal.epoch_ms()` reports None until the first success."""

    def __init__(self, host):
        self.host = host
        self.next_sync = hal.ticks_ms()
        self.synced = False

    def maintain(self, now):
        if hal.ticks_diff(now, self.next_sync) < 0 or not hal.net_up():
            return
        ok = hal.ntp_once(self.host)
        if ok != self.synced:
            log("I" if ok else "W", "ntp %s" % ("synced" if ok else "failed: ts will be null"))
        self.synced = self.synced or ok
        self.next_sync = hal.ticks_add(now, RESYNC_MS if ok else RETRY_MS)




class Node:
    def __init__(self, cfg):
        self.device = cfg["device"]
        self.boot = hal.rand_hex(4)  # 8 hex chars, new every boot: (device, boot, seq) is the key
        self.seq = 0
        self.interval_ms = int(cfg["interval_s"] * 1000)
        self.resend_ms = int(cfg["resend_s"] * 1000)
        self.interval_s = cfg["interval_s"]
        t = lambda ch: wire.topic(cfg["home"], self.device, ch)  # noqa: E731
        self.t_tele, self.t_status, self.t_set, self.t_ack = t("telemetry"), t("status"), t("set"), t("ack")
        self.outbox = Outbox(cfg["outbox_readings"])
        self.chunks = []  # reused for every message
        self.sensors = []
        self.relay = self.buzzer = self.contact = None
        self.command = None
        self.sent = {}  # kind -> (value, err) last put in a message, for change detection
        self.last_msg = None
        self.overflowing = False
        import roles
        getattr(roles, cfg["role"])(self, cfg.get(cfg["role"], {}))
        del sys.modules["roles"]  # setup code, needed once
        m = cfg["mqtt"]
        client = MQTTClient(self.device, m["host"], m["port"], m.get("user"), m.get("password"),
                            m.get("keepalive_s", 30))
        client.set_last_will(self.t_status, wire.LWT, retain=True, qos=1)
        client.on_message = self._message
        self.link = Link(client, self._connected)
        log("I", "node %s role=%s boot=%s fw=%s" % (self.device, cfg["role"], self.boot, wire.FW_VERSION))

    def _connected(self):
        """After CONNACK: retained status, subscriptions, and everything unacknowledged goes again."""
        self.link.publish(self.t_status, wire.status(self.boot, self.outbox.dropped, self.interval_s), True, 1)
        self.link.subscribe(self.t_set, 1)
        self.link.subscribe(self.t_ack, 1)
        self.outbox.unsend_all()

    def _message(self, topic, msg):
        # Runs inside check_msg: only hand the message on.
        if topic == self.t_ack:
            ack = wire.parse_ack(msg)
            if ack and ack[0] == self.boot:
                self.outbox.release(ack[1])
        elif topic == self.t_set:
            self.command = wire.parse_command(msg)
            if self.command is None:
                log("W", "set: ignored %r" % (bytes(msg[:60]),))

    def step(self, now):
        """Read sensors, queue what changed (or everything at the heartbeat), send what is due."""
        force = False
        if self.command is not None:
            if self.relay:
                self.relay.set(self.command)
                log("I", "relay %s" % ("on" if self.command else "off"))
            force = True  # the device answers a command with telemetry
            self.command = None
        current = []
        for s in self.sensors:
            s.update(now)
            current.extend(s.readings(now))
        if self.buzzer:
            self.buzzer.update(now)
        beat = self.last_msg is None or hal.ticks_diff(now, self.last_msg) >= self.interval_ms
        if beat or force:
            msg = current
        else:
            msg = [r for r in current if kinds.changed(r[0], self.sent.get(r[0]), r[1:])]
        if msg:
            self._enqueue(msg, now)
        self._pump(now)

    def _enqueue(self, readings, now):
        self.seq += 1
        ms = hal.epoch_ms()
        ts_s, ts_ms = (ms // 1000, ms % 1000) if ms is not None else (0, 0)
        lost = self.outbox.add(self.seq, ts_s, ts_ms, readings[:wire.MAX_READINGS])
        if lost and not self.overflowing:
            log("W", "outbox full: dropping oldest messages (gateway unreachable?)")
        self.overflowing = bool(lost)
        for r in readings:
            if self.buzzer and r[0] == kinds.CONTACT and r[1] and not self.sent.get(kinds.CONTACT, (0,))[0]:
                self.buzzer.beep(now)  # a local chirp when a door opens
            self.sent[r[0]] = r[1:]
        self.last_msg = now

    def _pump(self, now):
        box = self.outbox
        for slot in box.due(now, self.resend_ms):
            if not self.link.can_send():
                return
            wire.telemetry(self.chunks, self.device, self.boot, box.seq[slot], box.ts_s[slot], box.ts_ms[slot],
                           box.readings(slot))
            if not self.link.publish(self.t_tele, self.chunks, False, 1):
                return
            box.mark_sent(slot, now)


def run(cfg):
    """main.py: build the node from a checked config, then loop forever (the watchdog guards the loop)."""
    node = Node(cfg)
    clock = Clock(cfg["ntp_host"])
    dog = hal.wdt(int(cfg["watchdog_s"] * 1000))
    loop_ms = cfg["loop_ms"]
    cfg.clear()  # everything needed is copied out: the parsed JSON is garbage now
    peak = 0
    stats_at = hal.ticks_ms()
    gc.collect()  # start the peak count from the steady state, not from import garbage
    try:
        while True:
            now = hal.ticks_ms()
            clock.maintain(now)
            node.link.poll(now)
            node.step(now)
            dog.feed()
            used = gc.mem_alloc()  # before collecting: this iteration's high-water mark
            peak = used if used > peak else peak
            gc.collect()
            if hal.ticks_diff(now, stats_at) >= STATS_MS:
                stats_at = now
                _stats(node, peak)
            hal.sleep_ms(loop_ms)
    finally:
        _stats(node, peak)


def _stats(node, peak):
    log("S", "heap_peak=%d heap_free=%d outbox=%d readings=%d dropped=%d seq=%d" % (
        peak, gc.mem_free(), len(node.outbox), node.outbox.readings_used(), node.outbox.dropped, node.seq))
