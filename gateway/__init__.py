"""The edge gateway: MQTT intake -> validate, dedup, enrich -> durable outbox -> uplink to the cloud broker."""
