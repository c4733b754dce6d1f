"""The model's statistics: a plausible fridge, the heater the hog, no ghosts while away, determinism, counters."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest

from protocol.config import DeviceType, HomeConfig, load_home_config
from protocol.kinds import Kind
from protocol.settings import EXAMPLE_CONFIG
from simulator.appliances import profile_of
from simulator.model import HomeModel, role_of
from simulator.readings import Values, complete, initial_counters
from simulator.schedule import gather, plan_day
from simulator.signals import covered

CONFIG: HomeConfig = load_home_config(EXAMPLE_CONFIG)
TZ = zoneinfo.ZoneInfo(CONFIG.home.timezone)
MONDAY = dt.datetime(2026, 11, 2, tzinfo=TZ).timestamp()
STEP = 30.0


def week(
    seed: int = 42, intrusions: list[float] | None = None, start: float = MONDAY
) -> tuple[np.ndarray, dict[str, Values]]:
    """Seven days of every device's readings on a 30 s grid."""
    model = HomeModel(CONFIG, seed, intrusions=intrusions or [])
    t = start + np.arange(0, 7 * 86400, STEP)
    values, _ = complete(CONFIG, model.frame(t), {}, initial_counters(CONFIG, seed, CONFIG.home.id), STEP)
    return t, values


@pytest.fixture(scope="module")
def november() -> tuple[np.ndarray, dict[str, Values]]:
    return week()


def away_mask(t: np.ndarray, seed: int = 42) -> np.ndarray:
    model = HomeModel(CONFIG, seed)
    return covered(t, *gather(model.plans(float(t[0]), float(t[-1])), "away"))


@pytest.mark.parametrize("seed", [42, 1, 2026])
def test_fridge_duty_cycle_is_plausible(seed: int) -> None:
    _, values = week(seed)
    duty = float(np.mean(values["plug-fridge"][Kind.POWER] > 20.0))
    assert 0.30 <= duty <= 0.50, duty


@pytest.mark.parametrize("seed", [42, 1, 2026])
def test_space_heater_is_the_top_consumer_over_a_november_week(seed: int) -> None:
    _, values = week(seed)
    used = {d: float(v[Kind.ENERGY][-1] - v[Kind.ENERGY][0]) for d, v in values.items() if d.startswith("plug-")}
    assert max(used, key=used.__getitem__) == "plug-heater", used
    assert all(kwh > 0 for kwh in used.values()), used


def test_no_motion_while_the_home_is_away(november: tuple[np.ndarray, dict[str, Values]]) -> None:
    t, values = november
    away = away_mask(t)
    assert away.mean() > 0.2  # a work week leaves the home empty a good part of the time
    for device in (d for d in CONFIG.devices if d.type is DeviceType.MOTION):
        motion = np.asarray(values[device.id][Kind.MOTION], dtype=bool)
        assert motion.any(), device.id
        assert not (motion & away).any(), device.id


def test_an_injected_intruder_moves_while_the_home_is_away() -> None:
    at = MONDAY + 11 * 3600.0  # Monday 11:00: everyone is at work
    t, values = week(intrusions=[at])
    away = away_mask(t)
    seen = np.logical_or.reduce([np.asarray(values[d.id][Kind.MOTION], dtype=bool)
                                 for d in CONFIG.devices if d.type is DeviceType.MOTION])
    assert (seen & away & (t >= at) & (t < at + 600)).any()
    assert not (seen & away & ((t < at) | (t > at + 700))).any()
    back_door = np.asarray(values["door-back"][Kind.CONTACT], dtype=bool)
    assert back_door[(t >= at) & (t < at + 20)].all()


def test_energy_counters_never_go_backwards(november: tuple[np.ndarray, dict[str, Values]]) -> None:
    _, values = november
    for device, kinds in values.items():
        if Kind.ENERGY in kinds:
            assert (np.diff(kinds[Kind.ENERGY]) >= 0).all(), device


def test_meter_is_at_least_the_sum_of_plugs_and_lights(november: tuple[np.ndarray, dict[str, Values]]) -> None:
    _, values = november
    metered = sum(np.asarray(v[Kind.POWER]) for d, v in values.items() if d.startswith(("plug-", "light-")))
    meter = np.asarray(values["meter-home"][Kind.POWER])
    assert (meter >= metered).all()
    assert (meter - metered).min() > 50.0  # the unmetered base load is there too


def test_same_seed_same_data_other_seed_other_data() -> None:
    start = MONDAY + 86400 * 3
    model_a, model_b, model_c = HomeModel(CONFIG, 7), HomeModel(CONFIG, 7), HomeModel(CONFIG, 8)
    t = start + np.arange(0, 86400, 60.0)
    a, b, c = model_a.frame(t), model_b.frame(t), model_c.frame(t)
    for device in a.values:
        for kind in a.values[device]:
            assert np.array_equal(a.values[device][kind], b.values[device][kind])
    assert any(not np.array_equal(a.values[d][k], c.values[d][k]) for d in a.values for k in a.values[d])


def test_a_window_reads_the_same_however_time_is_sliced() -> None:
    model = HomeModel(CONFIG, 42)
    whole = model.frame(MONDAY + np.arange(0, 7200, 60.0))
    half = model.frame(MONDAY + 3600 + np.arange(0, 3600, 60.0))
    assert np.array_equal(whole.power_on["plug-fridge"][60:], half.power_on["plug-fridge"])
    assert np.array_equal(whole.values["motion-hallway"][Kind.MOTION][60:], half.values["motion-hallway"][Kind.MOTION])


def test_one_real_smoke_event_a_month_and_rare_tests() -> None:
    first = dt.date(2026, 12, 1)
    plans = [plan_day(42, "demo", CONFIG.home.timezone, first + dt.timedelta(days=i)) for i in range(365)]
    real = [(p.date.year, p.date.month) for p in plans for _ in p.get("smoke_real")]
    assert len(real) == 12 and len(set(real)) == 12  # exactly one in each month
    tests = sum(len(p.get("smoke_test")) for p in plans)
    assert 1 <= tests <= 20


def test_work_days_away_evenings_home_nights_asleep() -> None:
    plan = plan_day(42, "demo", CONFIG.home.timezone, dt.date(2026, 11, 3))
    hours = {name: [((a - plan.midnight) / 3600, (b - plan.midnight) / 3600) for a, b in plan.get(name)]
             for name in ("away", "asleep", "room:living")}
    if plan.kind == "work":
        assert any(a < 9 and b > 16 for a, b in hours["away"])
    assert any(a < 1 for a, _ in hours["asleep"]) and any(b > 23.9 for _, b in hours["asleep"])
    assert any(b > 20 for _, b in hours["room:living"])


def test_summer_days_are_brighter_and_warmer_than_winter_days() -> None:
    summer_start = dt.datetime(2026, 7, 6, tzinfo=TZ).timestamp()
    _, summer = week(start=summer_start)
    _, winter = week()
    assert np.max(summer["climate-living"][Kind.LIGHT]) > np.max(winter["climate-living"][Kind.LIGHT])
    assert np.mean(summer["climate-living"][Kind.TEMPERATURE]) > np.mean(winter["climate-living"][Kind.TEMPERATURE])
    assert float(summer["plug-heater"][Kind.ENERGY][-1] - summer["plug-heater"][Kind.ENERGY][0]) < 1.0


@pytest.mark.parametrize(
    ("appliance", "device", "profile"),
    [("fridge", "plug-1", "fridge"), ("washing machine", "p", "washer"), ("dishwasher", "p", "dishwasher"),
     ("TV", "p", "tv"), ("PC", "p", "pc"), ("space heater", "p", "heater"), (None, "plug-kettle", "kettle"),
     ("aquarium pump", "plug-x", "generic"), (None, "plug-topic", "generic")],
)
def test_the_appliance_name_or_id_picks_the_profile(appliance: str | None, device: str, profile: str) -> None:
    assert profile_of(appliance, device) == profile


@pytest.mark.parametrize(
    ("room", "name", "role"),
    [("living", "Living room", "living"), ("r1", "Guest bedroom", "bedroom"), ("attic", "Attic", "other")],
)
def test_rooms_are_recognised_by_id_or_name(room: str, name: str, role: str) -> None:
    assert role_of(room, name) == role
