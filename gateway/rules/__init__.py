"""Edge rules: the rule engine, the alarm and the EdgeRules facade the gateway calls for every accepted message."""

from gateway.rules.alarm import Alarm
from gateway.rules.config import AlarmSettings, parse_alarm, parse_rules
from gateway.rules.edge import AlertSink, EdgeRules
from gateway.rules.engine import RuleEngine

__all__ = ["Alarm", "AlarmSettings", "AlertSink", "EdgeRules", "RuleEngine", "parse_alarm", "parse_rules"]
