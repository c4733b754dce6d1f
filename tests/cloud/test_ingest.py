"""The ingest worker against a real broker and a real warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from cloud.ingest.worker import IngestStats, run
from cloud.warehouse import schema
from cloud.warehouse.db import make_engine, migrate
from iotpipe.broker import Mosquitto
from protocol import Alert, AlertState, Kind, Severity, encode
from protocol.settings import Settings
from tests.cloud.messages import payload, uplink
from tests.support import wait_for

Start = Callable[..., tuple[threading.Event, dict[str, IngestStats]]]


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, body: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish one message at QoS 1."""
        return self.client.publish(topic, body, qos=1, retain=retain)

    def send_all(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish them all and wait until the broker has acknowledged each one."""
        infos = [self.send(t, b) for t, b in messages]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(cloud_broker: Mosquitto) -> Iterator[Publisher]:
    """A publisher on the session's cloud broker."""
    pub = Publisher(cloud_broker)
    yield pub
    pub.close()


@pytest.fixture
def start(home_id: str) -> Iterator[Start]:
    """Start ingest workers in threads (each its own client id, one group per test); all stopped at the end."""
    threads: list[threading.Thread] = []
    stop = threading.Event()
    results: dict[str, IngestStats] = {}

    def starter(settings: Settings, *names: str) -> tuple[threading.Event, dict[str, IngestStats]]:
        for name in names or ("w1",):
            def target(name: str = name) -> None:
                results[name] = run(settings, stop=stop, group=f"g{home_id}"[:40], client_id=f"{home_id}-{name}")
            thread = threading.Thread(target=target, name=f"ingest-{name}")
            thread.start()
            threads.append(thread)
        return stop, results

    yield starter
    stop.set()
    for thread in threads:
        thread.join(30)


def count(engine: sa.Engine, table: sa.Table, *where: Any) -> int:
    """Rows in `table` matching `where`."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def subscribed(engine: sa.Engine, publisher: Publisher, home: str) -> None:
    """Publish probes until one lands: the workers' shared subscription is live from then on."""
    seq = iter(range(10**6, 2 * 10**6))

    def probe() -> bool:
        publisher.send(f"up/{home}/probe/telemetry", payload(uplink("probe", next(seq), (Kind.POWER, 1.0))))
        return count(engine, schema.readings, schema.readings.c.device == "probe") > 0

    wait_for(probe, 20, "the ingest workers to subscribe")


def test_every_kind_of_uplink_message_lands_in_its_table(settings: Settings, start: Start, publisher: Publisher,
                                                         home_id: str, engine: sa.Engine) -> None:
    stop, stats = start(settings)
    subscribed(engine, publisher, home_id)
    messages = [uplink("plug-kettle", s, (Kind.POWER, 1800.0 + s), (Kind.ENERGY, 1.0 + s), appliance="kettle",
                       room="kitchen") for s in range(5)]
    alert = Alert(id="smoke-1", rule="smoke", severity=Severity.CRITICAL, state=AlertState.RAISED, ts=1.0,
                  message="smoke", device="smoke-kitchen")
    publisher.send_all([
        *[(f"up/{home_id}/plug-kettle/telemetry", payload(m)) for m in messages[:3]],
        (f"up/{home_id}/batch", payload(messages[2:])),  # message 2 twice: once alone, once batched
        (f"up/{home_id}/gateway/alerts", encode(alert)),
        (f"up/{home_id}/gateway/events", b'{"type": "mode", "ts": 2.0, "mode": "away"}'),
        (f"up/{home_id}/gateway/status", b'{"online": true, "ts": 3.0}'),
        (f"up/{home_id}/plug-kettle/telemetry", b'{"v": 1, "device": "plug-kettle"'),
        (f"up/{home_id}/plug-kettle/telemetry", payload(uplink("plug-kettle", 9, (Kind.POWER, -1.0)))),
    ])
    in_home = schema.readings.c.home == home_id
    wait_for(lambda: count(engine, schema.rejected, schema.rejected.c.home == home_id) == 2, 20, "rejections")
    wait_for(lambda: count(engine, schema.readings, in_home, schema.readings.c.device == "plug-kettle") == 10, 20)
    with engine.connect() as conn:
        query = sa.select(schema.rejected.c.reason).where(schema.rejected.c.home == home_id)
        reasons = sorted(conn.execute(query).scalars())
        kettle = conn.execute(sa.select(schema.devices).where(schema.devices.c.device == "plug-kettle")).one()
        gateway = conn.execute(sa.select(schema.devices).where(schema.devices.c.home == home_id,
                                                               schema.devices.c.device == "gateway")).one()
    assert reasons == ["malformed_json", "out_of_range"]
    assert (kettle.appliance, kettle.room, kettle.last_seen) == ("kettle", "kitchen", messages[-1].received_at)
    assert gateway.online is True
    assert count(engine, schema.alerts, schema.alerts.c.home == home_id) == 1
    assert count(engine, schema.gateway_events, schema.gateway_events.c.home == home_id) == 2
    stop.set()
    wait_for(lambda: "w1" in stats, 30, "the worker to stop")
    lake = ds.dataset(settings.var / "lake", format="parquet", partitioning="hive").to_table().to_pandas()
    assert set(lake.loc[lake["device"] == "plug-kettle", "seq"]) == set(range(5))


def test_replayed_messages_never_count_twice(settings: Settings, start: Start, publisher: Publisher, home_id: str,
                                             engine: sa.Engine) -> None:
    start(settings)
    subscribed(engine, publisher, home_id)
    body = [(f"up/{home_id}/plug-tv/telemetry", payload(uplink("plug-tv", s, (Kind.POWER, 0.0)))) for s in range(50)]
    publisher.send_all(body + body + body[::-1])
    wait_for(lambda: count(engine, schema.readings, schema.readings.c.device == "plug-tv") >= 50, 20)
    publisher.send_all([(f"up/{home_id}/probe/telemetry", payload(uplink("probe", 0, (Kind.POWER, 0.0))))])
    wait_for(lambda: count(engine, schema.readings, schema.readings.c.device == "probe", schema.readings.c.seq == 0))
    assert count(engine, schema.readings, schema.readings.c.device == "plug-tv") == 50


def test_two_workers_share_20000_messages_with_duplicates_exactly_once(
    settings: Settings, start: Start, publisher: Publisher, home_id: str, engine: sa.Engine
) -> None:
    _stop, stats = start(settings, "w1", "w2")
    subscribed(engine, publisher, home_id)
    unique = [uplink(f"dev-{s % 20}", s, (Kind.POWER, float(s % 500)), (Kind.VOLTAGE, 230.0)) for s in range(16_000)]
    sent = [*unique, *unique[::4]]  # 4,000 duplicates, interleaved at the end
    publisher.send_all([(f"up/{home_id}/{m.device}/telemetry", payload(m)) for m in sent])
    assert len(sent) == 20_000
    is_dev = schema.readings.c.device.like("dev-%")
    wait_for(lambda: count(engine, schema.readings, is_dev) >= 32_000, 120, "all readings stored")
    with engine.connect() as conn:
        keys = conn.execute(sa.select(sa.func.count(sa.distinct(schema.readings.c.seq))).where(is_dev)).scalar_one()
    assert (count(engine, schema.readings, is_dev), keys) == (32_000, 16_000)
    _stop.set()
    wait_for(lambda: len(stats) == 2, 30, "both workers to stop")
    assert stats["w1"].messages > 0 and stats["w2"].messages > 0, stats
    assert stats["w1"].messages + stats["w2"].messages >= 20_000


@pytest.mark.postgres
def test_database_away_pauses_then_resumes_without_loss_or_doubles(  # noqa: PLR0917 - fixtures
    pg_url: str, cloud_broker: Mosquitto, start: Start, publisher: Publisher, home_id: str, tmp_path: Path
) -> None:
    from protocol.settings import EXAMPLE_CONFIG, load_settings
    from tests.cloud.conftest import pg_schema
    from tests.cloud.proxy import Proxy

    url = sa.make_url(pg_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    with pg_schema(pg_url) as base:
        proxied = base.replace(f"{url.host}:{url.port}", f"127.0.0.1:{proxy.port}")
        settings = load_settings(EXAMPLE_CONFIG, cloud_url=cloud_broker.url, db_url=proxied, var=tmp_path, env={})
        engine = make_engine(base)
        migrate(engine)
        try:
            _stop, stats = start(settings)
            subscribed(engine, publisher, home_id)
            proxy.cut()
            sent = [(f"up/{home_id}/plug-pc/telemetry", payload(uplink("plug-pc", s, (Kind.POWER, 90.0))))
                    for s in range(300)]
            publisher.send_all(sent[:200])
            proxy.restore()
            publisher.send_all(sent[100:])
            wait_for(lambda: count(engine, schema.readings, schema.readings.c.device == "plug-pc") >= 300, 60)
            _stop.set()
            wait_for(lambda: "w1" in stats, 30)
            assert count(engine, schema.readings, schema.readings.c.device == "plug-pc") == 300
            assert stats["w1"].retries > 0
        finally:
            engine.dispose()
            proxy.close()


@pytest.mark.postgres
def test_a_worker_started_while_the_database_is_away_waits_for_it(  # noqa: PLR0917 - fixtures
    pg_url: str, cloud_broker: Mosquitto, start: Start, publisher: Publisher, home_id: str, tmp_path: Path
) -> None:
    from protocol.settings import EXAMPLE_CONFIG, load_settings
    from tests.cloud.conftest import pg_schema
    from tests.cloud.proxy import Proxy

    url = sa.make_url(pg_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.cut()
    with pg_schema(pg_url) as base:
        proxied = base.replace(f"{url.host}:{url.port}", f"127.0.0.1:{proxy.port}")
        settings = load_settings(EXAMPLE_CONFIG, cloud_url=cloud_broker.url, db_url=proxied, var=tmp_path, env={})
        engine = make_engine(base)
        try:
            stop, stats = start(settings)
            wait_for(lambda: proxy.refused > 0, 30, "the worker to find the database away")
            proxy.restore()
            wait_for(lambda: sa.inspect(engine).has_table("readings"), 30, "the worker to migrate once reachable")
            subscribed(engine, publisher, home_id)
            stop.set()
            wait_for(lambda: "w1" in stats, 30)
            assert stats["w1"].readings > 0
        finally:
            engine.dispose()
            proxy.close()
