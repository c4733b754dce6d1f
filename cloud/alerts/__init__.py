"""Streaming alerts: windowed rules over the live uplink, stored and sent through Apprise."""
