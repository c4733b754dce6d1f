"""initial warehouse schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "alert_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alert_state")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("alert_id", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=True),
        sa.Column("room", sa.String(length=40), nullable=True),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("home", "alert_id", "state", name=op.f("uq_alerts_home_alert_id_state")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_home_ts"), ["home", "ts"], unique=False)

    op.create_table(
        "anomalies",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("t", sa.Float(precision=53), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("home", "device", "kind", "t", "rule", name=op.f("pk_anomalies")),
    )
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anomalies_home_t"), ["home", "t"], unique=False)

    op.create_table(
        "climate_daily",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("room", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("temperature_mean", sa.Float(precision=53), nullable=True),
        sa.Column("temperature_min", sa.Float(precision=53), nullable=True),
        sa.Column("temperature_max", sa.Float(precision=53), nullable=True),
        sa.Column("humidity_mean", sa.Float(precision=53), nullable=True),
        sa.Column("humidity_min", sa.Float(precision=53), nullable=True),
        sa.Column("humidity_max", sa.Float(precision=53), nullable=True),
        sa.Column("light_mean", sa.Float(precision=53), nullable=True),
        sa.Column("light_min", sa.Float(precision=53), nullable=True),
        sa.Column("light_max", sa.Float(precision=53), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("home", "room", "day", name=op.f("pk_climate_daily")),
    )
    op.create_table(
        "data_quality",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("coverage_pct", sa.Float(precision=53), nullable=False),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.Column("max_gap_s", sa.Float(precision=53), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("anomalies", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("home", "device", "day", name=op.f("pk_data_quality")),
    )
    op.create_table(
        "devices",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("room", sa.String(length=40), nullable=True),
        sa.Column("appliance", sa.String(length=120), nullable=True),
        sa.Column("first_seen", sa.Float(precision=53), nullable=True),
        sa.Column("last_seen", sa.Float(precision=53), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=True),
        sa.Column("status_at", sa.Float(precision=53), nullable=True),
        sa.Column("fw", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("home", "device", name=op.f("pk_devices")),
    )
    op.create_table(
        "energy_daily",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("appliance", sa.String(length=120), nullable=False),
        sa.Column("is_meter", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("kwh", sa.Float(precision=53), nullable=False),
        sa.Column("cost", sa.Float(precision=53), nullable=False),
        sa.Column("standby_kwh", sa.Float(precision=53), nullable=False),
        sa.Column("on_hours", sa.Float(precision=53), nullable=False),
        sa.Column("covered_hours", sa.Float(precision=53), nullable=False),
        sa.Column("resets", sa.Integer(), nullable=False),
        sa.Column("coverage_pct", sa.Float(precision=53), nullable=False),
        sa.Column("p95_28d", sa.Float(precision=53), nullable=True),
        sa.Column("hog", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("home", "day", "device", name=op.f("pk_energy_daily")),
    )
    with op.batch_alter_table("energy_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_energy_daily_home_day"), ["home", "day"], unique=False)

    op.create_table(
        "etl_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.Float(precision=53), nullable=False),
        sa.Column("finished_at", sa.Float(precision=53), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("watermark_from", sa.Float(precision=53), nullable=True),
        sa.Column("watermark_to", sa.Float(precision=53), nullable=True),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("rows_in", sa.Integer(), nullable=False),
        sa.Column("rows_clean", sa.Integer(), nullable=False),
        sa.Column("touched", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("timings", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_runs")),
    )
    op.create_table(
        "gateway_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_events")),
        sa.UniqueConstraint("home", "digest", name=op.f("uq_gateway_events_home_digest")),
    )
    with op.batch_alter_table("gateway_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_events_home_type_ts"), ["home", "type", "ts"], unique=False)

    op.create_table(
        "readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("boot", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.SmallInteger(), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=True),
        sa.Column("received_at", sa.Float(precision=53), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("err", sa.String(length=120), nullable=True),
        sa.Column("room", sa.String(length=40), nullable=True),
        sa.Column("appliance", sa.String(length=120), nullable=True),
        sa.Column("t", sa.Float(precision=53), nullable=False),
        sa.Column("ingested_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readings")),
        sa.UniqueConstraint("device", "boot", "seq", "idx", name=op.f("uq_readings_device_boot_seq_idx")),
    )
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_readings_home_device_kind_t"), ["home", "device", "kind", "t"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_readings_ingested_at"), ["ingested_at"], unique=False)

    op.create_table(
        "readings_1h",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Float(precision=53), nullable=False),
        sa.Column("mean", sa.Float(precision=53), nullable=False),
        sa.Column("min", sa.Float(precision=53), nullable=False),
        sa.Column("max", sa.Float(precision=53), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("home", "device", "kind", "bucket", name=op.f("pk_readings_1h")),
    )
    with op.batch_alter_table("readings_1h", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readings_1h_home_bucket"), ["home", "bucket"], unique=False)

    op.create_table(
        "readings_1m",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Float(precision=53), nullable=False),
        sa.Column("mean", sa.Float(precision=53), nullable=False),
        sa.Column("min", sa.Float(precision=53), nullable=False),
        sa.Column("max", sa.Float(precision=53), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("home", "device", "kind", "bucket", name=op.f("pk_readings_1m")),
    )
    with op.batch_alter_table("readings_1m", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readings_1m_home_bucket"), ["home", "bucket"], unique=False)

    op.create_table(
        "rejected",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("home", sa.String(length=40), nullable=True),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected")),
    )
    op.create_table(
        "security_events",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("t", sa.Float(precision=53), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("room", sa.String(length=40), nullable=True),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("gateway_online", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("home", "device", "t", "kind", name=op.f("pk_security_events")),
    )
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_events_home_t"), ["home", "t"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_events_home_t"))

    op.drop_table("security_events")
    op.drop_table("rejected")
    with op.batch_alter_table("readings_1m", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readings_1m_home_bucket"))

    op.drop_table("readings_1m")
    with op.batch_alter_table("readings_1h", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readings_1h_home_bucket"))

    op.drop_table("readings_1h")
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readings_ingested_at"))
        batch_op.drop_index(batch_op.f("ix_readings_home_device_kind_t"))

    op.drop_table("readings")
    with op.batch_alter_table("gateway_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_events_home_type_ts"))

    op.drop_table("gateway_events")
    op.drop_table("etl_runs")
    with op.batch_alter_table("energy_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_energy_daily_home_day"))

    op.drop_table("energy_daily")
    op.drop_table("devices")
    op.drop_table("data_quality")
    op.drop_table("climate_daily")
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anomalies_home_t"))

    op.drop_table("anomalies")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_home_ts"))

    op.drop_table("alerts")
    op.drop_table("alert_state")
