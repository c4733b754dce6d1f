"""What the transform needs besides the readings: device metadata, thresholds, tariff and time zone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cloud.config import CloudConfig
from protocol.config import DeviceType, HomeConfig

DAY_S = 86400.0


@dataclass(frozen=True)
class Context:
    """Device metadata as a frame (one row per configured device) plus the ETL's knobs."""

    devices: pd.DataFrame  # index device; columns type, room, label, is_meter, interval_s, rated_power_w
    config: CloudConfig
    tariff: float
    tz: str

    @classmethod
    def from_home(cls, home: HomeConfig, config: CloudConfig) -> Context:
        """Build the context from the validated home config and `[cloud]` section."""
        rows = [
            {"device": d.id, "type": d.type.value, "room": d.room, "label": d.appliance or d.label,
             "is_meter": d.type is DeviceType.METER, "interval_s": d.interval_s,
             "rated_power_w": np.nan if d.rated_power_w is None else d.rated_power_w}
            for d in home.devices
        ]
        frame = pd.DataFrame(rows, columns=["device", "type", "room", "label", "is_meter", "interval_s",
                                            "rated_power_w"]).set_index("device")
        return cls(frame, config, home.home.tariff_per_kwh, home.home.timezone)

    def meta(self, devices: pd.Series, placements: pd.DataFrame) -> pd.DataFrame:
        """Metadata for the devices seen in the data; devices the config does not know get the room and
        appliance `placements` (device, room, appliance) recorded for them, else defaults."""
        names = devices.cat.categories if isinstance(devices.dtype, pd.CategoricalDtype) else pd.unique(devices)
        seen = pd.DataFrame({"device": [str(n) for n in names]}).merge(
            placements.rename(columns={"room": "room_seen", "appliance": "appliance_seen"}), on="device", how="left")
        seen = seen.drop_duplicates("device").set_index("device")
        out = seen.join(self.devices, how="left")
        out["room"] = out["room"].fillna(out["room_seen"])
        out["label"] = out["label"].fillna(out["appliance_seen"]).fillna(pd.Series(out.index, index=out.index))
        out["is_meter"] = out["is_meter"].astype("boolean").fillna(pd.Series(out.index.str.startswith("meter"),
                                                                                 index=out.index)).astype(bool)
        out["interval_s"] = out["interval_s"].fillna(5.0)
        return out.drop(columns=["room_seen", "appliance_seen"])


def local_day(t: pd.Series, tz: str) -> pd.Series:
    """The local calendar day (as a naive midnight timestamp) of each UTC epoch second, in the home's zone."""
    stamps = pd.to_datetime(t, unit="s", utc=True).dt.tz_convert(tz)
    return stamps.dt.tz_localize(None).dt.normalize()


def day_bounds(days: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """UTC epoch seconds of each local day's start and end (23 or 25 hours long on DST days)."""
    start = days.dt.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
    end = (days + pd.Timedelta(days=1)).dt.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
    return _epoch(start), _epoch(end)


def _epoch(stamps: pd.Series) -> pd.Series:
    """Epoch seconds of tz-aware timestamps."""
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
