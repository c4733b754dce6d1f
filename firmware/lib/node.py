# The node loop: sensors -> change detection -> outbox -> MQTT, one role per config (climate, security,
# plug). Each reading stays in the outbox until the gateway's watermark on `ack` passes its seq.
import gc
import sys
import hal
import kinds
import wire
from log import log

STATS_MS = 5000
RESYNC_MS = 6 * 3600 * 1000  # the ESP32 RTC drifts several seconds a day
RETRY_MS = 60000  # while the clock was never set, ts is null: try NTP again every minute


class Node:
    def __init__(self, cfg, box, packet_buf):
        # The setup lives in roles.py, which is dropped once it ran: bytecode costs heap as long as its
        # module is loaded, and this code runs once.
        import roles
        roles.build(self, cfg, box, packet_buf)
        del sys.modules["roles"]

    def clock(self, now):
        """Keep the RTC set from NTP: every few hours, every minute while it was never set (ts null)."""
        if hal.ticks_diff(now, self.ntp_at) < 0 or not hal.net_up():
            return
        ok = hal.ntp_once(self.ntp_host)
        if ok != self.synced:
            log("I" if ok else "W", "ntp synced" if ok else "ntp failed: ts stays null")
        self.synced = self.synced or ok
        self.ntp_at = hal.ticks_add(now, RESYNC_MS if ok else RETRY_MS)

    def _connected(self):
        """After CONNACK: retained status, subscriptions, and everything unacknowledged goes again."""
        self.link.publish(self.t_status, wire.status(self.boot, self.outbox.dropped, self.interval_s), True, 1)
        self.link.subscribe(self.t_set, 1)
        self.link.subscribe(self.t_ack, 1)
        self.outbox.unsend_all()
        self.overflowing = False

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
            self.overflowing = True  # once per outage: _connected() re-arms the warning
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


def run(cfg, box, packet_buf):
    """main.py: build the node from a checked config, then loop forever (the watchdog guards the loop)."""
    node = Node(cfg, box, packet_buf)
    dog = hal.wdt(int(cfg["watchdog_s"] * 1000))
    loop_ms = cfg["loop_ms"]
    cfg.clear()  # everything needed is copied out: the parsed JSON is garbage now
    peak = 0
    stats_at = hal.ticks_ms()
    gc.collect()  # start the peak count from the steady state, not from import garbage
    try:
        while True:
            now = hal.ticks_ms()
            node.clock(now)
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
