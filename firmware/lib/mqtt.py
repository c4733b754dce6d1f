# A small MQTT 3.1.1 client, protocol layer only (shaped like micropython-lib's umqtt.simple):
# _CONNECT with credentials and LWT, _PUBLISH QoS 0/1, _SUBSCRIBE, _PINGREQ, _PUBACK matching.
# No reconnect policy here: that lives in link.py on top. Every failure is an OSError. The device never
# disconnects on purpose (its LWT must fire when it dies), so there is no DISCONNECT.
import socket
import struct
from micropython import const

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)  # 0x80 | 0b0010: the spec requires flags 0010 on _SUBSCRIBE
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)


def varint(n):
    """MQTT "remaining length": 7 bits per byte, high bit = more bytes follow (at most 4 bytes)."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def connect_packet(client_id, keepalive, clean=True, user=None, password=None, will=None):
    """_CONNECT bytes; `will` is (topic, message, retain, qos) or None."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will:
        topic, msg, retain, qos = will
        flags |= 0x04 | (qos & 3) << 3 | (0x20 if retain else 0)
        payload += _str(topic) + _str(msg)
    if user:
        flags |= 0x80
        payload += _str(user)
        if password:
            flags |= 0x40
            payload += _str(password)
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", keepalive) + payload
    return bytes((_CONNECT,)) + varint(len(body)) + body


def publish_header(topic, size, qos=0, retain=False, pid=0, dup=False):
    """Everything of a _PUBLISH before its `size`-byte payload."""
    header = _PUBLISH | qos << 1 | (1 if retain else 0) | (8 if dup else 0)
    var = _str(topic) + (struct.pack("!H", pid) if qos else b"")
    return bytes((header,)) + varint(len(var) + size) + var


def subscribe_packet(pid, topic, qos=0):
    body = struct.pack("!H", pid) + _str(topic) + bytes((qos,))
    return bytes((_SUBSCRIBE,)) + varint(len(body)) + body


def puback_packet(pid):
    return struct.pack("!BBH", _PUBACK, 2, pid)


class MQTTClient:
    """One MQTT connection. `on_message(topic, msg)`, `on_puback(pid)` are plain callables."""

    TIMEOUT_S = 5  # socket timeout: bounds every blocking call well under the watchdog period
    BUF_SIZE = 1024  # one packet is assembled here: a 5-reading telemetry message is ~450 bytes

    def __init__(self, client_id, host, port=1883, user=None, password=None, keepalive=30, buf=None):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will = None
        self.sock = None
        self.pid = 0
        self.on_message = None
        self.on_puback = None
        self.pong_pending = False
        self.buf = buf if buf is not None else bytearray(self.BUF_SIZE)  # pass one in to place it early

    def set_last_will(self, topic, msg, retain=False, qos=0):
        self.will = (topic, msg, retain, qos)

    def connect(self, clean=True, sock=None):
        """Open the socket (or use `sock`), send _CONNECT, wait for _CONNACK; returns session_present."""
        if sock is None:
            addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
            sock = socket.socket()
            sock.settimeout(self.TIMEOUT_S)
            try:
                # TCP_NODELAY (IPPROTO_TCP 6, option 1 on Linux and lwIP): a 4-byte PUBACK must not make
                # Nagle hold the next telemetry packet until the broker's delayed ACK (up to 40 ms).
                sock.setsockopt(6, 1, 1)
            except OSError:
                pass
            try:
                sock.connect(addr)
            except OSError:
                sock.close()
                raise
        self.sock = sock
        self.pong_pending = False
        try:
            self._write(connect_packet(self.client_id, self.keepalive, clean, self.user, self.password,
                                       self.will))
            resp = self._read(4)
        except OSError:
            self.close()
            raise
        if resp[0] != _CONNACK or resp[1] != 2:
            self.close()
            raise OSError("bad _CONNACK")
        if resp[3]:
            self.close()
            raise OSError("connection refused, code %d" % resp[3])  # 4 bad credentials, 5 not authorized
        return resp[2] & 1

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def ping(self):
        self._write(bytes((_PINGREQ, 0)))
        self.pong_pending = True

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1  # packet ids are 1..65535, never 0
        return self.pid

    def publish(self, topic, msg, retain=False, qos=0):
        """Send a _PUBLISH without waiting; returns the packet id to match its _PUBACK (0 for QoS 0).

        `msg` is bytes or a list of bytes chunks; the packet is assembled in a preallocated buffer and
        written at once (one TCP segment, so Nagle never holds back a second small write)."""
        pid = self._next_pid() if qos else 0
        chunks = (msg,) if isinstance(msg, (bytes, bytearray)) else msg
        size = 0
        for c in chunks:
            size += len(c)
        head = publish_header(topic, size, qos, retain, pid)
        if len(head) + size > len(self.buf):
            self._write(head)  # rare: bigger than the buffer, written piece by piece
            for c in chunks:
                self._write(c)
            return pid
        buf = self.buf
        n = len(head)
        buf[:n] = head
        for c in chunks:
            buf[n:n + len(c)] = c
            n += len(c)
        self._write(memoryview(buf)[:n])
        return pid

    def subscribe(self, topic, qos=0):
        """Send _SUBSCRIBE without waiting; the _SUBACK arrives through check_msg."""
        pid = self._next_pid()
        self._write(subscribe_packet(pid, topic, qos))
        return pid

    def check_msg(self):
        """Handle every packet that is already waiting, without blocking when none is; returns the count."""
        handled = 0
        while True:
            self.sock.setblocking(False)
            try:
                first = self.sock.read(1)
            except OSError as exc:
                if exc.errno == 11:  # EAGAIN: some ports raise instead of returning None
                    first = None
                else:
                    raise
            finally:
                if self.sock:
                    self.sock.settimeout(self.TIMEOUT_S)
            if first is None:
                return handled
            if first == b"":
                raise OSError("connection closed by broker")
            self._handle(first[0])
            handled += 1

    def _remaining_length(self):
        n = 0
        shift = 0
        while True:
            byte = self._read(1)[0]
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return n
            shift += 7
            if shift > 21:
                raise OSError("bad remaining length")

    def _handle(self, header):
        size = self._remaining_length()
        body = self._read(size) if size else b""
        kind = header & 0xF0
        if kind == _PUBLISH:
            self._handle_publish(header, body)
        elif kind == _PUBACK:
            if self.on_puback:
                self.on_puback(struct.unpack("!H", body)[0])
        elif kind == _SUBACK:
            if body[2] == 0x80:
                raise OSError("subscription refused")
        elif kind == _PINGRESP:
            self.pong_pending = False
        else:
            raise OSError("unexpected packet 0x%02x" % header)

    def _handle_publish(self, header, body):
        tlen = struct.unpack("!H", body[:2])[0]
        topic = body[2:2 + tlen].decode()
        pos = 2 + tlen
        qos = header >> 1 & 3
        pid = 0
        if qos:
            pid = struct.unpack("!H", body[pos:pos + 2])[0]
            pos += 2
        if self.on_message:
            self.on_message(topic, body[pos:])
        if qos == 1:
            self._write(puback_packet(pid))
        elif qos == 2:
            raise OSError("QoS 2 is not supported")  # we only ever subscribe with QoS <= 1

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.read(n - len(buf))
            if not chunk:
                raise OSError("connection closed by broker")
            buf += chunk
        return buf

    def _write(self, data):
        if self.sock is None:
            raise OSError("not connected")
        view = memoryview(data)
        while view:
            n = self.sock.write(view)
            if not n:
                raise OSError("socket write failed")
            view = view[n:]
