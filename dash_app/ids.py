"""Component ids, one constant each, so layouts and callbacks cannot drift apart."""

from __future__ import annotations

# shell
URL = "url"
PAGE = "page"
NAV_USER = "nav-user"
BANNER = "alert-banner"
BANNER_TICK = "banner-tick"
ACK_BUTTON = "ack-button"  # pattern-matching: {"type": ACK_BUTTON, "alert": alert_id}
ACK_SENT = "ack-sent"

# home
HOME_TICK = "home-tick"
ROOMS = "home-rooms"
SWITCHES = "home-switches"
SWITCH_BUTTON = "switch-button"  # pattern-matching: {"type": SWITCH_BUTTON, "device": device_id}
SWITCH_STATE = "switch-state"  # pattern-matching: {"type": SWITCH_STATE, "device": device_id}
SWITCH_PENDING = "switch-pending"
SWITCH_FEEDBACK = "switch-feedback"
MODE_BADGE = "mode-badge"
MODE_BUTTON = "mode-button"  # pattern-matching: {"type": MODE_BUTTON, "mode": mode}
MODE_FEEDBACK = "mode-feedback"

# energy
ENERGY_TICK = "energy-tick"
ENERGY_SLOW_TICK = "energy-slow-tick"
POWER_NOW = "power-now"
LIVE_GRAPH = "live-graph"
PERIOD = "history-period"
HISTORY_GRAPH = "history-graph"
HISTORY_NOTE = "history-note"
HOGS = "hogs-table"
THRESHOLD = "threshold-input"
THRESHOLD_ALERTS = "threshold-alerts"

# security
SECURITY_TICK = "security-tick"
SECURITY_MODE = "security-mode"
CLIMATE = "security-climate"
FILTER_ROOM = "filter-room"
FILTER_TYPE = "filter-type"
FILTER_DATES = "filter-dates"
EVENTS = "events-table"
EVENTS_PAGE = "events-page"
EXPORT_BUTTON = "export-button"
EXPORT = "export-download"

# system
SYSTEM_TICK = "system-tick"
THROUGHPUT = "system-throughput"
DEVICES = "system-devices"
REJECTED = "system-rejected"
ETL = "system-etl"
