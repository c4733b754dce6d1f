# The three node roles from one firmware: which drivers a config builds. Imported once at start and
# then dropped from memory (node.py removes it from sys.modules).


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
