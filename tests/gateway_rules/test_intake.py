"""HTTP and CoAP intake: golden messages accepted (202 / 2.04 after commit), bad ones refused with the reason code."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from http.client import HTTPConnection
from pathlib import Path

import aiocoap
import pytest

import protocol
from gateway.intake.body import CommitError
from gateway.intake.coap import CoapIntake
from gateway.intake.http import HttpIntake
from gateway.rules.edge import EdgeRules
from protocol import AlertAck, Telemetry, encode
from protocol.config import HomeConfig
from tests.gateway_rules.conftest import FakeClock, free_udp_port, uplink

EXAMPLES = Path(protocol.__file__).parent / "examples"
RECEIVED_AT = 1764460060.0  # the golden files' receive time (protocol/examples/README.md)
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
# Over HTTP and CoAP a JSON array is a batch, so the one golden file that is an array of a valid message is
# accepted here (test_an_array_is_a_batch); every other invalid file is refused for the reason its name gives.
INVALID = sorted(p for p in (EXAMPLES / "invalid").glob("*.json") if p.stem != "wrong_type__array-not-object")


class SqliteCommitter:
    """Commits to a real SQLite file (synchronous=FULL) before returning; `fail` simulates a full disk."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS inbox (device TEXT, boot TEXT, seq INT, source TEXT, body BLOB)")
        self.lock = threading.Lock()
        self.fail = False

    def commit(self, messages: Sequence[Telemetry], received_at: float, source: str) -> None:
        if self.fail:
            raise CommitError("database is full")
        rows = [(m.device, m.boot, m.seq, source.split(":", maxsplit=1)[0], encode(m)) for m in messages]
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?)", rows)
            self.conn.execute("COMMIT")

    def keys(self) -> list[tuple[str, str, int, str]]:
        with self.lock:
            return list(self.conn.execute("SELECT device, boot, seq, source FROM inbox ORDER BY rowid"))


@pytest.fixture
def committer(tmp_path: Path) -> SqliteCommitter:
    return SqliteCommitter(tmp_path / "inbox.db")


@pytest.fixture
def http(example_home: HomeConfig, committer: SqliteCommitter, clock: FakeClock) -> Iterator[HttpIntake]:
    rules = EdgeRules(example_home, [], clock)
    server = HttpIntake(example_home, committer, rules=rules, port=0, clock=lambda: RECEIVED_AT, register_unknown=True)
    server.start()
    yield server
    server.stop()


def post(server: HttpIntake, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def announce_huge_body(server: HttpIntake) -> int:
    """Announce a 2 MiB body and send none of it: the answer must come before the server reads it."""
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/v1/telemetry")
    conn.putheader("Content-Length", str(2 << 20))
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def get(server: HttpIntake, path: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_http_accepts_each_golden_message_after_commit(
    http: HttpIntake, committer: SqliteCommitter, path: Path
) -> None:
    raw = json.loads(path.read_bytes())
    assert post(http, "/v1/telemetry", path.read_bytes()) == (202, {"accepted": 1})
    assert committer.keys() == [(raw["device"], raw["boot"], raw["seq"], "http")]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_http_refuses_each_bad_message_with_its_reason(
    http: HttpIntake, committer: SqliteCommitter, path: Path
) -> None:
    reason = path.stem.split("__")[0]
    status, body = post(http, "/v1/telemetry", path.read_bytes())
    assert (status, body["reason"]) == (413 if reason == "too_large" else 400, reason), body
    assert committer.keys() == []
    assert http.rejected[reason] == 1


def test_an_array_is_a_batch(http: HttpIntake, committer: SqliteCommitter) -> None:
    batch = b"[" + b",".join(p.read_bytes() for p in VALID) + b"]"
    assert post(http, "/v1/telemetry", batch) == (202, {"accepted": len(VALID)})
    assert len(committer.keys()) == len(VALID)
    array = (EXAMPLES / "invalid" / "wrong_type__array-not-object.json").read_bytes()
    assert post(http, "/v1/telemetry", array) == (202, {"accepted": 1})


def test_one_bad_message_refuses_the_whole_batch(http: HttpIntake, committer: SqliteCommitter) -> None:
    bad = (EXAMPLES / "invalid" / "out_of_range__humidity-150.json").read_bytes()
    status, body = post(http, "/v1/telemetry", b"[" + VALID[0].read_bytes() + b"," + bad + b"]")
    assert (status, body["reason"]) == (400, "out_of_range")
    assert str(body["detail"]).startswith("message [1]:")
    assert post(http, "/v1/telemetry", b"[]")[1]["reason"] == "schema"
    assert post(http, "/v1/telemetry", b"[{]")[1]["reason"] == "malformed_json"
    assert committer.keys() == []


def test_unknown_devices_body_size_and_commit_failures(example_home: HomeConfig, committer: SqliteCommitter) -> None:
    server = HttpIntake(example_home, committer, port=0, clock=lambda: RECEIVED_AT)
    server.start()
    try:
        garage = (EXAMPLES / "valid" / "negative-temperature.json").read_bytes()
        assert post(server, "/v1/telemetry", garage)[1]["reason"] == "unknown_device"
        assert announce_huge_body(server) == 413
        assert post(server, "/v1/nothing", b"{}")[0] == 404
        assert post(server, "/v1/alarm/mode", b'{"mode": "away"}')[0] == 404  # no alarm wired to this one
        committer.fail = True
        status, body = post(server, "/v1/telemetry", (EXAMPLES / "valid" / "climate.json").read_bytes())
        assert (status, body["reason"]) == (503, "unavailable")
    finally:
        server.stop()


def test_http_alarm_mode_and_acknowledgement(http: HttpIntake) -> None:
    assert get(http, "/v1/alarm")[1]["mode"] == "disarmed"
    status, state = post(http, "/v1/alarm/mode", b'{"mode": "night", "by": "anna"}')
    assert (status, state["mode"], state["source"], state["by"]) == (200, "night", "http", "anna")
    assert get(http, "/v1/alarm")[1]["mode"] == "night"
    assert post(http, "/v1/alarm/mode", b'{"mode": "party"}')[1]["reason"] == "schema"
    assert post(http, "/v1/alerts/ack", b'{"id": "nope", "by": "anna"}')[0] == 404
    assert post(http, "/v1/alerts/ack", b'{"id": "nope"}')[1]["reason"] == "schema"


@pytest.fixture
def coap(example_home: HomeConfig, committer: SqliteCommitter) -> Iterator[CoapIntake]:
    server = CoapIntake(example_home, committer, port=free_udp_port(), clock=lambda: RECEIVED_AT, register_unknown=True)
    server.start()
    yield server
    server.stop()


def coap_post(server: CoapIntake, bodies: list[bytes]) -> list[tuple[aiocoap.numbers.codes.Code, bytes]]:
    async def run() -> list[tuple[aiocoap.numbers.codes.Code, bytes]]:
        context = await aiocoap.Context.create_client_context()
        try:
            answers = []
            for body in bodies:
                request = aiocoap.Message(
                    code=aiocoap.POST, payload=body, uri=f"coap://127.0.0.1:{server.port}/telemetry"
                )
                response = await context.request(request).response
                answers.append((response.code, response.payload))
            return answers
        finally:
            await context.shutdown()

    return asyncio.run(run())


def test_coap_accepts_good_and_refuses_bad_with_the_reason(coap: CoapIntake, committer: SqliteCommitter) -> None:
    answers = coap_post(coap, [p.read_bytes() for p in VALID] + [p.read_bytes() for p in INVALID])
    good, bad = answers[: len(VALID)], answers[len(VALID) :]
    assert {code for code, _ in good} == {aiocoap.CHANGED}
    assert len(committer.keys()) == len(VALID)
    for path, (code, payload) in zip(INVALID, bad, strict=True):
        reason = path.stem.split("__")[0]
        expected = aiocoap.REQUEST_ENTITY_TOO_LARGE if reason == "too_large" else aiocoap.BAD_REQUEST
        assert (code, json.loads(payload)["reason"]) == (expected, reason), path.stem


def test_coap_answers_503_when_the_commit_fails(coap: CoapIntake, committer: SqliteCommitter) -> None:
    committer.fail = True
    [(code, payload)] = coap_post(coap, [VALID[0].read_bytes()])
    assert (code, json.loads(payload)["reason"]) == (aiocoap.SERVICE_UNAVAILABLE, "unavailable")


def test_http_acknowledges_a_raised_alert(
    example_home: HomeConfig, committer: SqliteCommitter, clock: FakeClock
) -> None:
    rules = EdgeRules(example_home, [], clock)
    [smoke] = rules.on_telemetry(uplink("smoke-hallway", "smoke", True, clock.now))
    server = HttpIntake(example_home, committer, rules=rules, port=0, clock=clock)
    server.start()
    try:
        status, body = post(server, "/v1/alerts/ack", encode(AlertAck(id=smoke.id, by="anna")))
    finally:
        server.stop()
    assert (status, body["state"], body["ack_by"], body["id"]) == (200, "acknowledged", "anna", smoke.id)
