"""The security event log: door/window/motion/smoke changes with the alarm mode and the gateway's presence."""

from __future__ import annotations

import json

import pandas as pd

from protocol import SECURITY_KINDS

SECURITY_COLUMNS = ["home", "device", "t", "kind", "day", "room", "value", "mode", "gateway_online"]


def security_events(rows: pd.DataFrame, events: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Every change of a security sensor (and its first report when it is active), with the context at the time.

    `events` are gateway events (home, type, ts, payload): `mode` ones give the alarm mode, `gateway_status`
    ones the gateway's presence on the uplink (online unless a status says otherwise).
    """
    kinds = [k.value for k in SECURITY_KINDS]
    part = rows.loc[rows["kind"].isin(kinds), ["home", "device", "kind", "t", "day", "value"]]
    part = part.sort_values(["home", "device", "kind", "t"], kind="stable")
    same = (part["home"] == part["home"].shift()) & (part["device"] == part["device"].shift()) & (
        part["kind"] == part["kind"].shift())
    changed = (same & (part["value"] != part["value"].shift())) | (~same & (part["value"] > 0))
    log = part.loc[changed].assign(value=lambda f: f["value"] > 0, room=lambda f: f["device"].map(meta["room"]))
    log = _as_of(log, _timeline(events, "mode"), "mode")
    log = _as_of(log, _timeline(events, "gateway_status"), "gateway_online")
    log["gateway_online"] = log["gateway_online"].fillna(True).astype(bool)
    log["mode"] = log["mode"].astype(object).where(log["mode"].notna(), None)
    return log[SECURITY_COLUMNS].reset_index(drop=True)


def _timeline(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    """(home, ts, value) of one kind of gateway event, sorted by time."""
    part = events.loc[events["type"] == kind]
    values = [_value(json.loads(p), kind) for p in part["payload"]]
    out = pd.DataFrame({"home": part["home"].astype(str).to_numpy(), "ts": part["ts"].astype(float).to_numpy(),
                        "state": pd.Series(values, dtype=object)})
    return out.loc[out["state"].notna()].sort_values("ts")


def _value(payload: dict[str, object], kind: str) -> object:
    """The mode name (a string, or a ModeState object's `mode`), or the gateway's online flag."""
    if kind == "gateway_status":
        return payload.get("online")
    mode = payload.get("mode")
    return mode.get("mode") if isinstance(mode, dict) else mode


def _as_of(log: pd.DataFrame, timeline: pd.DataFrame, column: str) -> pd.DataFrame:
    """Attach the latest timeline state at or before each event's time, per home."""
    log = log.assign(home=log["home"].astype(str)).sort_values("t")
    if timeline.empty:
        return log.assign(**{column: None})
    merged = pd.merge_asof(log, timeline, left_on="t", right_on="ts", by="home", direction="backward")
    return merged.drop(columns="ts").rename(columns={"state": column})
