# The node loop; the role (climate, security, plug) comes from config.json. The config checks are
# imported, run and dropped before the node is built, so their heap is free for the outbox.
import sys
import config

cfg = config.load_or_halt("config.json")
del config
sys.modules.pop("config")
import node  # noqa: E402

node.run(cfg)
