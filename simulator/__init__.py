"""Simulated devices of a home: one seeded model, run live over MQTT or as backfilled sample logs."""

from simulator.backfill import run_backfill
from simulator.device import LiveStats
from simulator.live import SimulatorError, run_live
from simulator.model import HomeModel
from simulator.options import Faults, SimulatorSection, simulator_section

__all__ = [
    "Faults",
    "HomeModel",
    "LiveStats",
    "SimulatorError",
    "SimulatorSection",
    "run_backfill",
    "run_live",
    "simulator_section",
]
