# The node loop; the role (climate, security, plug) comes from config.json. Order matters for the heap:
# the config checks are run and dropped first, then the big long-lived buffers (outbox, MQTT packet
# buffer) are allocated while the heap is still in one piece, and only then is the rest imported.
import gc
import sys
import config

cfg = config.load_or_halt("config.json")
del config
sys.modules.pop("config")
gc.collect()
from outbox import Outbox  # noqa: E402

box = Outbox(cfg["outbox_readings"])
packet_buf = bytearray(1024)  # one MQTT packet is assembled here (a 5-reading message is ~450 bytes)
import node  # noqa: E402

node.run(cfg, box, packet_buf)
