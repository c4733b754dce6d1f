"""Intake for devices that cannot speak MQTT: HTTP and CoAP, held to the same contract as MQTT."""
