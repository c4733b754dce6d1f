"""The dashboard: a multi-page Dash app that reads the warehouse read-only and sends commands over MQTT."""
