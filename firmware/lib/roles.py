# Node setup, and the three node roles from one firmware (which drivers a config builds). Imported once
# at start and then dropped from memory (node.py removes it from sys.modules).
import hal
import wire
from link import Link
from mqtt import MQTTClient
from log import log


def build(node, cfg, box, packet_buf):
    """Fill a Node from a checked config: identity, topics, outbox, drivers, MQTT link."""
    node.device = cfg["device"]
    node.boot = hal.rand_hex(4)  # 8 hex chars, new every boot: (device, boot, seq) is the key
    node.seq = 0
    node.interval_ms = int(cfg["interval_s"] * 1000)
    node.resend_ms = int(cfg["resend_s"] * 1000)
    node.interval_s = cfg["interval_s"]
    home = cfg["home"]
    node.t_tele, node.t_status, node.t_set, node.t_ack = (
        wire.topic(home, node.device, ch) for ch in ("telemetry", "status", "set", "ack"))
    m = cfg["mqtt"]
    client = MQTTClient(node.device, m["host"], m["port"], m.get("user"), m.get("password"),
                        m.get("keepalive_s", 30), packet_buf)
    client.set_last_will(node.t_status, wire.LWT, retain=True, qos=1)
    node.outbox = box
    client.on_message = node._message
    node.chunks = []  # reused for every message
    node.sensors = []
    node.relay = node.buzzer = node.contact = None
    node.command = None
    node.sent = {}  # kind -> (value, err) last put in a message, for change detection
    node.last_msg = None
    node.overflowing = False
    node.ntp_host = cfg["ntp_host"]
    node.ntp_at = hal.ticks_ms()
    node.synced = False
    _ROLES[cfg["role"]](node, cfg.get(cfg["role"], {}))
    node.link = Link(client, node._connected)
    log("I", "node %s role=%s boot=%s fw=%s" % (node.device, cfg["role"], node.boot, wire.FW_VERSION))


def climate(node, c):
    from dht22 import DHT22
    node.sensors.append(DHT22(c["dht_pin"]))
    if c.get("ldr_pin") is not None:
        from ldr import LDR
        node.sensors.append(LDR(c["ldr_pin"], c.get("fixed_ohm", 10000), c.get("r10_ohm", 10000),
                                c.get("gamma", 0.7)))


def security(node, c):
    if c.get("pir_pin") is not None:
        from pir import PIR
        node.sensors.append(PIR(c["pir_pin"], c.get("pir_hold_s", 30)))
    if c.get("contact_pin") is not None:
        from contact import Contact
        node.contact = Contact(c["contact_pin"], c.get("contact_open_level", 1), c.get("debounce_ms", 50))
        node.sensors.append(node.contact)
    if c.get("buzzer_pin") is not None:
        from relay import Buzzer
        node.buzzer = Buzzer(c["buzzer_pin"])


def plug(node, c):
    from relay import Relay
    from hlw8012 import PowerMeter
    node.relay = Relay(c["relay_pin"], c.get("relay_on_boot", False), c.get("relay_active_level", 1))
    node.sensors.append(node.relay)
    node.sensors.append(PowerMeter(c["cf_pin"], c["cf1_pin"], c["sel_pin"], c.get("sel_current_level", 1),
                                   c["w_per_hz"], c["v_per_hz"], c["a_per_hz"], c.get("energy_file")))


_ROLES = {"climate": climate, "security": security, "plug": plug}
