"""What alerts do: the buzzer, the alert topic and the uplink, notifications, the local log, the arming button,
and the optional Pi-local DHT22."""
