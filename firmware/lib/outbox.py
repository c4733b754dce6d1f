# Bounded outbox: every telemetry message stays here until the gateway's watermark passes its seq.
# Readings are packed into preallocated arrays (about 24 bytes per reading with its message) so 200
# readings cost ~5 KB and the heap never grows with the backlog. Oldest messages go first when full,
# and each one dropped is counted: that count is the "dropped" in the status message.
from array import array
import time


class Outbox:
    def __init__(self, max_readings=200):
        n = max_readings  # every message has at least one reading, so n message slots always suffice
        self.cap = n
        # One zero buffer serves every array: a temporary per array would leave a hole between each pair
        # of arrays, and a fragmented heap cannot hold the 1 KB packet buffer.
        z = bytes(4 * n)
        z2 = bytes(2 * n)  # allocated right after z: once both are garbage they make one hole
        self.seq = array("I", z)  # "I" not "L": L is 8 bytes on 64-bit ports
        self.ts_s = array("I", z)  # 0 = no synced clock (ts null); uint32 seconds last until 2106
        self.ts_ms = array("H", z2)
        self.first = array("H", z2)  # index of the message's first reading in the reading ring
        self.count = bytearray(n)
        self.sent_at = array("i", z)  # ticks_ms of the last send
        self.sent = bytearray(n)  # 0 = still to send (new, or after a reconnect)
        self.kind = bytearray(n)
        self.value = array("f", z)
        self.err = bytearray(n)
        self.head = 0  # oldest message slot
        self.msgs = 0
        self.r_head = 0  # oldest reading
        self.r_used = 0
        self.dropped = 0  # messages lost to overflow since boot

    def __len__(self):
        return self.msgs

    def readings_used(self):
        return self.r_used

    def _drop_oldest(self):
        slot = self.head
        self.r_head = (self.r_head + self.count[slot]) % self.cap
        self.r_used -= self.count[slot]
        self.head = (self.head + 1) % self.cap
        self.msgs -= 1

    def add(self, seq, ts_s, ts_ms, readings):
        """Store a message (readings: list of (kind, value, err)); returns how many old ones were dropped."""
        n = len(readings)
        if n > self.cap:
            raise ValueError("message larger than the outbox")
        lost = 0
        while self.r_used + n > self.cap or self.msgs == self.cap:
            self._drop_oldest()
            lost += 1
        self.dropped += lost
        slot = (self.head + self.msgs) % self.cap
        self.seq[slot] = seq
        self.ts_s[slot] = ts_s
        self.ts_ms[slot] = ts_ms
        self.count[slot] = n
        self.sent[slot] = 0
        first = (self.r_head + self.r_used) % self.cap
        self.first[slot] = first
        for i in range(n):
            kind, value, err = readings[i]
            j = (first + i) % self.cap
            self.kind[j] = kind
            self.value[j] = 0.0 if value is None else float(value)
            self.err[j] = err if value is not None else (err or 7)
        self.msgs += 1
        self.r_used += n
        return lost

    def release(self, seq):
        """Forget every message with a seq <= `seq` (the gateway has it durably); returns how many."""
        freed = 0
        while self.msgs and self.seq[self.head] <= seq:
            self._drop_oldest()
            freed += 1
        return freed

    def unsend_all(self):
        """Mark everything for resending, as after a reconnect."""
        for i in range(self.msgs):
            self.sent[(self.head + i) % self.cap] = 0

    def due(self, now, resend_ms):
        """Yield slots to send now, oldest first: never sent, or sent more than `resend_ms` ago."""
        for i in range(self.msgs):
            slot = (self.head + i) % self.cap
            if not self.sent[slot] or time.ticks_diff(now, self.sent_at[slot]) >= resend_ms:
                yield slot

    def mark_sent(self, slot, now):
        self.sent[slot] = 1
        self.sent_at[slot] = now

    def readings(self, slot):
        """Yield (kind, value, err) of a stored message; booleans come back as bools."""
        first = self.first[slot]
        for i in range(self.count[slot]):
            j = (first + i) % self.cap
            err = self.err[j]
            kind = self.kind[j]
            value = None if err else self.value[j]
            yield kind, value, err
