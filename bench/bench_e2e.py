"""End to end, device to warehouse: latency from a simulated device's timestamp to the row's commit in the
warehouse, and readings lost or counted twice on the way (prints, never asserts).

Run: `.venv/bin/python bench/bench_e2e.py [--seconds 60] [--interval 1] [--json PATH]`
The pipeline is the demo's own (`iotpipe demo`: private edge and cloud brokers, the simulator, the gateway, one
ingest worker), on free ports, into a temporary SQLite warehouse. The device's `ts` and the worker's `ingested_at`
come from the same clock (one machine), so their difference is the whole trip: device publish, edge broker, gateway
(validate, dedup, durable outbox, uplink), cloud broker, ingest commit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iotpipe.broker import free_port
from protocol.settings import EXAMPLE_CONFIG

PROCFILE = """ingest: iotpipe cloud ingest
gateway: iotpipe gateway run
simulator: iotpipe simulate live --interval {interval} --speed {speed}
"""


def home_config(folder: Path) -> Path:
    """The example home on free ports, so the bench never collides with a demo or a test on this machine."""
    text = EXAMPLE_CONFIG.read_text()
    for key, port in (("http_port", 8080), ("coap_port", 5683), ("metrics_port", 9108)):
        text = text.replace(f"{key} = {port}", f"{key} = {free_port()}")
    path = folder / "home.toml"
    path.write_text(text)
    return path


SERVICES = {"ingest": ("cloud", "ingest"), "gateway": ("gateway", "run"), "simulator": ("simulate", "live")}


def peak_rss_mib(parent: int) -> dict[str, float]:
    """Peak resident memory (VmHWM) of each service the demo started, by its command line."""
    found: dict[str, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            args = (status.parent / "cmdline").read_bytes().decode().split("\0")
        except OSError:  # the process ended while we looked
            continue
        if int(fields.get("PPid", "0")) != parent:
            continue
        for name, words in SERVICES.items():
            if all(w in args for w in words):
                found[f"{name}_rss_peak_mib"] = int(fields["VmHWM"].split()[0]) / 1024
    return found


def run_pipeline(folder: Path, seconds: float, interval: float) -> tuple[Path, dict[str, float]]:
    """Run the demo's services for `seconds`; returns the warehouse file and the services' peak memory."""
    procfile = folder / "procfile"
    procfile.write_text(PROCFILE)
    db = folder / "warehouse.db"
    command = [sys.executable, "-m", "iotpipe", "--config", str(home_config(folder)), "--var", str(folder / "var"),
               "--db-url", f"sqlite:///{db}", "demo", "--duration", str(seconds), "--interval", str(interval),
               "--procfile", str(procfile)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTPIPE_")}  # private brokers, always
    memory: dict[str, float] = {}
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as demo:
        try:
            demo.wait(max(1.0, seconds - 2.0))  # just before the demo stops its services: measure them
        except subprocess.TimeoutExpired:
            memory = peak_rss_mib(demo.pid)
        _out, err = demo.communicate(timeout=120)
    if demo.returncode != 0:
        raise SystemExit(f"the pipeline stopped (exit {demo.returncode}):\n{err[-2000:]}")
    return db, memory


def figures(db: Path, skip_s: float) -> dict[str, float]:
    """Latency per message (its first reading), and seqs missing inside each device's stored range."""
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        start = conn.execute(sa.text("SELECT min(ingested_at) FROM readings")).scalar() or 0.0
        lat = [row[0] for row in conn.execute(sa.text(
            "SELECT ingested_at - ts FROM readings WHERE idx = 0 AND ts IS NOT NULL AND ingested_at > :warm"),
            {"warm": start + skip_s})]
        ranges = conn.execute(sa.text("SELECT device, boot, min(seq), max(seq), count(DISTINCT seq), "
                                      "count(*) FILTER (WHERE idx = 0) FROM readings GROUP BY device, boot")).all()
    engine.dispose()
    expected = sum(hi - lo + 1 for _d, _b, lo, hi, _n, _m in ranges)
    stored = sum(n for *_rest, n, _m in ranges)
    quantiles = statistics.quantiles(lat, n=100)
    return {"messages": len(lat), "devices": len({r[0] for r in ranges}), "e2e_p50_ms": quantiles[49] * 1000,
            "e2e_p95_ms": quantiles[94] * 1000, "e2e_p99_ms": quantiles[98] * 1000, "e2e_max_ms": max(lat) * 1000,
            "missing_seqs": expected - stored, "duplicate_messages": sum(m for *_r, m in ranges) - stored}


def main() -> None:
    """Run the pipeline, then read the warehouse and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the devices publish")
    parser.add_argument("--interval", type=float, default=1.0, help="each device's heartbeat (s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as a flat JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        db, memory = run_pipeline(Path(tmp), args.seconds, args.interval)
        result = figures(db, skip_s=min(10.0, args.seconds / 4)) | memory
    print(f"bench_e2e: {result['devices']:.0f} devices every {args.interval:g} s for {args.seconds:g} s, "
          f"{result['messages']:,.0f} messages after warm-up")
    print(f"  device -> warehouse: p50 {result['e2e_p50_ms']:.0f} ms  p95 {result['e2e_p95_ms']:.0f} ms  "
          f"p99 {result['e2e_p99_ms']:.0f} ms  max {result['e2e_max_ms']:.0f} ms")
    print(f"  missing seqs inside each device's stored range: {result['missing_seqs']:.0f}; "
          f"messages stored twice: {result['duplicate_messages']:.0f}")
    print("  peak RSS: " + ", ".join(f"{k.removesuffix('_rss_peak_mib')} {v:.0f} MiB" for k, v in memory.items()))
    if args.json:
        args.json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
