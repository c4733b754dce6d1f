"""Typed SQLAlchemy 2 schema of the warehouse; Alembic migrations in `cloud/migrations` create it."""

from __future__ import annotations

import sqlalchemy as sa

# Stable constraint names, so migrations can refer to them on every backend.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)
# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets a bigint identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Id = sa.String(40)
Epoch = sa.Float(53)  # UTC epoch seconds everywhere, as on the wire

devices = sa.Table(
    "devices", metadata,
    sa.Column("home", Id, primary_key=True),
    sa.Column("device", Id, primary_key=True),
    sa.Column("room", Id),
    sa.Column("appliance", sa.String(120)),
    sa.Column("first_seen", Epoch),
    sa.Column("last_seen", Epoch),
    sa.Column("online", sa.Boolean),
    sa.Column("status_at", Epoch),
    sa.Column("fw", sa.String(120)),
)

readings = sa.Table(
    "readings", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("home", Id, nullable=False),
    sa.Column("device", Id, nullable=False),
    sa.Column("boot", sa.String(16), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("idx", sa.SmallInteger, nullable=False),
    sa.Column("ts", Epoch),
    sa.Column("received_at", Epoch, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("unit", sa.String(8)),
    sa.Column("err", sa.String(120)),
    sa.Column("room", Id),
    sa.Column("appliance", sa.String(120)),
    sa.Column("t", Epoch, nullable=False),  # event time: the device's ts, else the gateway's received_at
    sa.Column("ingested_at", Epoch, nullable=False),
    sa.UniqueConstraint("device", "boot", "seq", "idx"),  # the identity key: a replay never counts twice
    sa.Index(None, "home", "device", "kind", "t"),  # latest per device/kind, time ranges per device
    sa.Index(None, "ingested_at"),  # the ETL's watermark
)


def _aggregate(name: str) -> sa.Table:
    """A per-device, per-kind time-bucket aggregate table (1 minute or 1 hour)."""
    return sa.Table(
        name, metadata,
        sa.Column("home", Id, primary_key=True),
        sa.Column("device", Id, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("bucket", Epoch, primary_key=True),
        sa.Column("mean", sa.Float(53), nullable=False),
        sa.Column("min", sa.Float(53), nullable=False),
        sa.Column("max", sa.Float(53), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Index(None, "home", "bucket"),
    )


readings_1m = _aggregate("readings_1m")
readings_1h = _aggregate("readings_1h")

climate_daily = sa.Table(
    "climate_daily", metadata,
    sa.Column("home", Id, primary_key=True),
    sa.Column("room", Id, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *(
        sa.Column(f"{kind}_{stat}", sa.Float(53))
        for kind in ("temperature", "humidity", "light")
        for stat in ("mean", "min", "max")
    ),
    sa.Column("n", sa.Integer, nullable=False),
)

energy_daily = sa.Table(
    "energy_daily", metadata,
    sa.Column("home", Id, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("device", Id, primary_key=True),
    sa.Column("appliance", sa.String(120), nullable=False),
    sa.Column("is_meter", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(8), nullable=False),  # "counter" (energy kWh) or "power" (integrated W)
    sa.Column("kwh", sa.Float(53), nullable=False),
    sa.Column("cost", sa.Float(53), nullable=False),
    sa.Column("standby_kwh", sa.Float(53), nullable=False),
    sa.Column("on_hours", sa.Float(53), nullable=False),
    sa.Column("covered_hours", sa.Float(53), nullable=False),
    sa.Column("resets", sa.Integer, nullable=False),
    sa.Column("coverage_pct", sa.Float(53), nullable=False),
    sa.Column("p95_28d", sa.Float(53)),
    sa.Column("hog", sa.Boolean, nullable=False),
    sa.Index(None, "home", "day"),
)

data_quality = sa.Table(
    "data_quality", metadata,
    sa.Column("home", Id, primary_key=True),
    sa.Column("device", Id, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("readings", sa.Integer, nullable=False),
    sa.Column("messages", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("coverage_pct", sa.Float(53), nullable=False),
    sa.Column("gaps", sa.Integer, nullable=False),
    sa.Column("max_gap_s", sa.Float(53), nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),  # messages seen again (same key, or same device time)
    sa.Column("late", sa.Integer, nullable=False),
    sa.Column("anomalies", sa.Integer, nullable=False),
)

anomalies = sa.Table(
    "anomalies", metadata,
    sa.Column("home", Id, primary_key=True),
    sa.Column("device", Id, primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("t", Epoch, primary_key=True),
    sa.Column("rule", sa.String(16), primary_key=True),
    sa.Column("value", sa.Float(53)),
    sa.Column("day", sa.Date, nullable=False),
    sa.Index(None, "home", "t"),
)

security_events = sa.Table(
    "security_events", metadata,
    sa.Column("home", Id, primary_key=True),
    sa.Column("device", Id, primary_key=True),
    sa.Column("t", Epoch, primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("room", Id),
    sa.Column("value", sa.Boolean, nullable=False),
    sa.Column("mode", sa.String(16)),  # alarm mode at the time, None when unknown
    sa.Column("gateway_online", sa.Boolean, nullable=False),
    sa.Index(None, "home", "t"),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("home", Id, nullable=False),
    sa.Column("alert_id", sa.String(120), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),  # "gateway" or "cloud"
    sa.Column("rule", sa.String(120), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("message", sa.String(500), nullable=False),
    sa.Column("device", Id),
    sa.Column("room", Id),
    sa.Column("value", sa.Float(53)),
    sa.Column("notified", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("home", "alert_id", "state"),
    sa.Index(None, "home", "ts"),
)

rejected = sa.Table(
    "rejected", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("home", Id),
    sa.Column("topic", sa.String(300), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(500), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", Epoch, nullable=False),
)

gateway_events = sa.Table(
    "gateway_events", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("home", Id, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("ts", Epoch, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("digest", sa.String(40), nullable=False),  # sha1 of the payload: a redelivery is stored once
    sa.UniqueConstraint("home", "digest"),
    sa.Index(None, "home", "type", "ts"),
)

etl_runs = sa.Table(
    "etl_runs", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("started_at", Epoch, nullable=False),
    sa.Column("finished_at", Epoch),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("watermark_from", Epoch),
    sa.Column("watermark_to", Epoch),
    sa.Column("rows_loaded", sa.Integer, nullable=False, default=0),
    sa.Column("rows_in", sa.Integer, nullable=False, default=0),
    sa.Column("rows_clean", sa.Integer, nullable=False, default=0),
    sa.Column("touched", sa.Integer, nullable=False, default=0),
    sa.Column("counts", sa.Text, nullable=False, default="{}"),  # rows written per table, JSON
    sa.Column("timings", sa.Text, nullable=False, default="{}"),  # seconds per step, JSON
    sa.Column("error", sa.String(500)),
)

alert_state = sa.Table(
    "alert_state", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
)
