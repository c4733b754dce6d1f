"""The [dashboard] section, the login rules and the login routes (through Flask's test client)."""

from __future__ import annotations

from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from dash_app.app import check_bind, create_app
from dash_app.auth import Throttle, is_loopback, needs_login, safe_next, verify
from dash_app.config import DashboardConfig, dashboard_config, parse_users
from protocol import ConfigError
from protocol.settings import EXAMPLE_CONFIG, load_settings
from tests.dash_app.conftest import services

HASH = generate_password_hash("correct horse", method="pbkdf2:sha256:1000")


def settings_with(tmp_path: Path, section: str) -> object:
    path = tmp_path / "home.toml"
    without = EXAMPLE_CONFIG.read_text().split("\n[dashboard]\n")[0]  # the example's own section is the last one
    path.write_text(without + "\n[dashboard]\n" + section)
    return load_settings(path, env={})


def test_defaults_when_the_section_is_absent() -> None:
    config = dashboard_config(load_settings(EXAMPLE_CONFIG, env={}), env={})
    assert config.users == {} and config.consumption_threshold_w > 0 and config.secret is None


def test_users_come_from_config_and_environment(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, f'users = {{ alice = "{HASH}" }}\n')
    config = dashboard_config(settings, env={"IOTPIPE_DASH_USERS": f"bob={HASH}", "IOTPIPE_DASH_SECRET": "s3"})  # type: ignore[arg-type]
    assert set(config.users) == {"alice", "bob"} and config.secret == "s3"


def test_a_plain_password_is_refused_naming_the_key(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, 'users = { alice = "hunter2" }\n')
    with pytest.raises(ConfigError, match=r"dashboard\.users\.alice: not a password hash"):
        dashboard_config(settings, env={})  # type: ignore[arg-type]


def test_an_unknown_key_is_refused_naming_it(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "treshold = 5\n")
    with pytest.raises(ConfigError, match=r"home.toml: dashboard.*treshold"):
        dashboard_config(settings, env={})  # type: ignore[arg-type]


def test_a_bad_threshold_is_refused(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "consumption_threshold_w = -1\n")
    with pytest.raises(ConfigError, match=r"consumption_threshold_w"):
        dashboard_config(settings, env={})  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["alice", "=abc", "bad name=x"])
def test_bad_user_entries_in_the_environment_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="IOTPIPE_DASH_USERS"):
        parse_users(text)


@pytest.mark.parametrize(("host", "login"), [
    ("127.0.0.1", False), ("localhost", False), ("::1", False), ("[::1]", False),
    ("127.0.0.2", True), ("0.0.0.0", True), ("192.0.2.2", True), ("::", True),
])
def test_login_is_needed_off_the_default_loopback(host: str, login: bool) -> None:
    assert needs_login(host) is login


def test_loopback_is_what_the_kernel_says() -> None:
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.2") and not is_loopback("example.org")


def test_no_users_off_loopback_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match=r"dashboard\.users: listening on 0\.0\.0\.0 needs at least one user"):
        check_bind("0.0.0.0", DashboardConfig(), debug=False)
    assert check_bind("127.0.0.1", DashboardConfig(), debug=False) is False
    assert check_bind("0.0.0.0", DashboardConfig(users={"a": HASH}), debug=False) is True


def test_the_debugger_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match="--debug"):
        check_bind("0.0.0.0", DashboardConfig(users={"a": HASH}), debug=True)
    assert check_bind("127.0.0.2", DashboardConfig(users={"a": HASH}), debug=True) is True


def test_throttle_locks_after_the_limit_and_doubles() -> None:
    now = [1000.0]
    throttle = Throttle(limit=3, lockout_s=10.0, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("k")
    assert throttle.wait("k") == 0
    throttle.failed("k")
    assert throttle.wait("k") == pytest.approx(10.0)
    throttle.failed("k")
    assert throttle.wait("k") == pytest.approx(20.0)
    now[0] += 25
    assert throttle.wait("k") == 0 and throttle.wait("other") == 0
    throttle.succeeded("k")
    throttle.failed("k")
    assert throttle.wait("k") == 0


def test_verify_checks_the_hash_and_unknown_users() -> None:
    users = {"alice": HASH}
    assert verify(users, "alice", "correct horse")
    assert not verify(users, "alice", "wrong")
    assert not verify(users, "mallory", "correct horse")


@pytest.mark.parametrize(("target", "expected"), [
    ("/energy", "/energy"), ("/security?x=1", "/security?x=1"), (None, "/"), ("", "/"),
    ("//evil.example/", "/"), ("https://evil.example/", "/"), ("javascript:alert(1)", "/"), ("energy", "/"),
])
def test_after_login_only_local_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.fixture
def client(sample_db: Path, sample_now: float):  # type: ignore[no-untyped-def]
    svc = services(f"sqlite:///{sample_db}", sample_now, users={"alice": HASH}, login_max_failures=3)
    app = create_app(svc, login=True, secret="test-secret")
    yield app.server.test_client()
    svc.reader.close()


@pytest.mark.parametrize("path", ["/", "/energy", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component",
                                  "/_dash-component-suites/dash/dcc/dash_core_components.js", "/assets/x.js"])
def test_every_route_needs_a_login(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
    assert client.post("/_dash-update-component", json={"output": "x"}).status_code == 401


def test_login_lets_in_and_logout_out(client) -> None:  # type: ignore[no-untyped-def]
    assert b"Sign in" in client.get("/login?next=/energy").data
    response = client.post("/login", data={"username": "alice", "password": "correct horse", "next": "/energy"})
    assert response.status_code == 302 and response.headers["Location"] == "/energy"
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/").status_code == 200
    client.get("/logout")
    assert client.get("/_dash-layout").status_code == 401


def test_nothing_secret_in_the_page_or_layout(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/login", data={"username": "alice", "password": "correct horse"})
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/login"):
        body = client.get(path).data
        assert HASH.encode() not in body and b"test-secret" not in body and b"pbkdf2" not in body


def test_repeated_wrong_passwords_are_slowed_down(client) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert client.post("/login", data={"username": "alice", "password": "guess"}).status_code == 401
    locked = client.post("/login", data={"username": "alice", "password": "correct horse"})
    assert locked.status_code == 429 and b"Too many failed attempts" in locked.data
    assert client.get("/_dash-layout").status_code == 401


def test_the_login_page_escapes_what_it_echoes(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get('/login?next=/"><script>alert(1)</script>').data
    assert b"<script>alert(1)" not in body


def test_the_example_section_documents_every_key_with_its_default() -> None:
    settings = load_settings(EXAMPLE_CONFIG, env={})
    documented = set(settings.home.dashboard)
    assert documented == set(DashboardConfig.__struct_fields__) - {"users", "secret"}
    assert dashboard_config(settings, env={}) == DashboardConfig()


def test_throttle_memory_is_bounded() -> None:
    now = [0.0]
    throttle = Throttle(limit=2, lockout_s=10.0, clock=lambda: now[0])
    throttle.failed("locked")
    throttle.failed("locked")
    for i in range(10_050):
        throttle.failed(f"user:{i}")
    assert len(throttle.failures) < 200 and throttle.wait("locked") > 0
