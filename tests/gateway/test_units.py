"""The gateway's pure parts, without brokers: marks, watermark schedule, uplink packing, backoff, reject log."""

from __future__ import annotations

import logging
import random

import pytest

from gateway.forward import pack
from gateway.link import Backoff
from gateway.marks import Mark, Marks
from gateway.rejects import RejectLog
from gateway.store import Row
from gateway.watermarks import WatermarkSchedule
from protocol import Reason, Rejection


def test_in_order_seqs_move_the_floor_and_repeats_are_refused() -> None:
    mark = Mark.first(1, now=0.0)
    assert all(mark.observe(seq, 0.0) for seq in range(1, 6))
    assert mark.floor == 5 and not mark.above
    assert not mark.observe(3, 1.0) and not mark.observe(5, 1.0)


def test_a_boot_counting_from_zero_has_no_hole_below() -> None:
    mark = Mark.first(0, now=0.0)
    assert mark.observe(0, 0.0) and mark.floor == 0


def test_out_of_order_arrival_fills_the_hole_without_loss() -> None:
    mark = Mark.first(1, now=0.0)
    for seq in (1, 2, 4, 5):
        mark.observe(seq, 0.0)
    assert mark.floor == 2 and mark.above == {4, 5} and mark.gap_since == 0.0
    assert not mark.observe(4, 1.0)
    assert mark.observe(3, 2.0) and mark.floor == 5 and mark.gap_since is None


def test_a_hole_is_given_up_only_after_the_timeout() -> None:
    mark = Mark.first(1, now=0.0)
    for seq in (1, 2, 6, 7):
        mark.observe(seq, 10.0)
    assert mark.expire(69.9, 60.0) is None
    assert mark.expire(70.0, 60.0) == (3, 5)
    assert mark.floor == 7 and mark.lost == [(3, 5)]


def test_a_reading_arriving_after_its_gap_was_given_up_still_counts_once() -> None:
    mark = Mark.first(1, now=0.0)
    for seq in (1, 5):
        mark.observe(seq, 0.0)
    mark.expire(100.0, 60.0)
    assert mark.observe(3, 101.0) and mark.lost == [(2, 2), (4, 4)]
    assert not mark.observe(3, 102.0)


def test_marks_keep_the_newest_boots_per_device_and_the_latest_boot_for_the_watermark() -> None:
    marks = Marks(boots_per_device=2)
    for index, boot in enumerate(("aaaa", "bbbb", "cccc")):
        marks.observe("dev", boot, 1, now=float(index))
    assert marks.stale_boots() == [("dev", "aaaa")]
    assert marks.watermark("dev") == ("cccc", 1)
    assert marks.watermark("other") is None
    assert {(d, b) for d, b, _ in marks.take_dirty()} == {("dev", "bbbb"), ("dev", "cccc")}
    assert marks.take_dirty() == []


def test_watermark_is_published_at_most_once_per_interval_and_the_latest_value_wins() -> None:
    schedule = WatermarkSchedule(interval=1.0)
    schedule.update("dev", "aaaa", 1)
    assert schedule.due(10.0) == [("dev", "aaaa", 1)]
    schedule.update("dev", "aaaa", 2)
    schedule.update("dev", "aaaa", 3)
    assert schedule.due(10.5) == []
    assert schedule.due(11.0) == [("dev", "aaaa", 3)]
    schedule.update("dev", "aaaa", 3)
    assert schedule.due(20.0) == []
    schedule.resend_all()
    assert schedule.due(20.0) == [("dev", "aaaa", 3)]


def rows(*spec: tuple[int, bool]) -> list[Row]:
    return [Row(i, "up/h/gateway/events" if not b else f"up/h/d{i}/telemetry", b'{"n":%d}' % i, b) for i, b in spec]


def test_pack_batches_consecutive_telemetry_and_sends_events_alone_in_order() -> None:
    out = pack(rows((1, True), (2, True), (3, True), (4, False), (5, True)), "up/h/batch", batch_size=2)
    assert [(m.topic, m.first, m.last) for m in out] == [
        ("up/h/batch", 1, 2),
        ("up/h/d3/telemetry", 3, 3),
        ("up/h/gateway/events", 4, 4),
        ("up/h/d5/telemetry", 5, 5),
    ]
    assert out[0].payload == b'[{"n":1},{"n":2}]'


def test_pack_with_batch_size_one_keeps_per_device_topics() -> None:
    out = pack(rows((1, True), (2, True)), "up/h/batch", batch_size=1)
    assert [m.topic for m in out] == ["up/h/d1/telemetry", "up/h/d2/telemetry"]


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    steps = [min(8.0, 0.5 * 2**n) for n in range(8)]
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True))
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next() <= 0.5


@pytest.fixture
def rejection() -> Rejection:
    return Rejection(reason=Reason.OUT_OF_RANGE, detail="too hot", topic="iot/h/d/telemetry", received_at=0, payload="")


def test_reject_log_logs_once_per_reason_per_interval_and_counts_all(
    rejection: Rejection, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    log = RejectLog(60.0, lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="gateway.rejects"):
        for _ in range(5):
            log.record(rejection)
        now[0] = 61.0
        log.record(rejection)
    assert log.counts["out_of_range"] == 6
    assert len(caplog.records) == 2 and "4 more of this reason not logged" in caplog.records[1].getMessage()
