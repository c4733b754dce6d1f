"""The dashboard in headless Chromium against a running server process, a real broker and a real warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from werkzeug.security import generate_password_hash

from dash_app.browser import (
    CHROMEDRIVER,
    CHROMIUM,
    DashServer,
    by_pattern,
    chromium,
    drawn,
    home_config,
    page_text,
    pattern_text,
)
from iotpipe.broker import Mosquitto
from protocol import AlertState, Kind
from protocol.codec import decode_alert_ack, decode_command
from tests.dash_app.conftest import example_home, make_warehouse
from tests.dash_app.ingest import device_answer, raise_alert
from tests.support import Recorder, wait_for

pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                                reason="needs Debian's chromium and chromium-driver (the test command installs them)")
HOME = f"dash{os.getpid() % 100000}-browser"
PAGES = {"/": ["Living room", "°C", "Last motion", "Switches"],
         "/energy": ["Whole home now", "Energy hogs", "untracked"],
         "/security": ["Event log", "event(s), page 1", "Climate per room"],
         "/system": ["Messages/s", "online", "Last ETL run"]}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("browser") / "warehouse.db"
    return make_warehouse(path, example_home(HOME), time.time(), days=16, minute_days=7.2, minute_kinds={"power"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, warehouse: str, broker: Mosquitto) -> Iterator[DashServer]:
    config = home_config(tmp_path_factory.mktemp("config"), HOME)
    made = DashServer(config, warehouse, broker.url).start()
    yield made
    made.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_data(server: DashServer, browser: webdriver.Chrome, path: str) -> None:
    browser.get(server.url + path)
    wait_for(lambda: all(word in page_text(browser) for word in PAGES[path]) and drawn(browser), timeout=20,
             what=f"{path} to show {PAGES[path]} and draw its graphs")
    assert "Traceback" not in browser.page_source and "reconnecting" not in page_text(browser).lower()


@pytest.mark.browser
def test_a_toggle_sends_the_command_and_shows_what_the_device_reports(
    server: DashServer, browser: webdriver.Chrome, broker: Mosquitto, warehouse: str,
) -> None:
    recorder = Recorder(broker.host, broker.port, f"iot/{HOME}/+/set")
    browser.get(server.url + "/")
    state = lambda: pattern_text(browser, type="switch-state", device="light-living")  # noqa: E731
    wait_for(lambda: "ON" in state() or "OFF" in state(), timeout=20, what="the lamp's reported state")
    before = "ON" in state()
    by_pattern(browser, type="switch-button", device="light-living").click()
    command = decode_command(wait_for(lambda: recorder.on("light-living/set"), what="the switch command")[0])
    assert command.switch is (not before)
    wait_for(lambda: "waiting for the device" in state(), timeout=10, what="the page to wait for the device")
    # The test plays the device: it obeys and reports, through the uplink, into the warehouse.
    device_answer(warehouse, HOME, "light-living", {Kind.SWITCH: bool(command.switch), Kind.POWER: 12.0}, time.time())
    expected = "ON" if command.switch else "OFF"
    wait_for(lambda: state().startswith(expected) and "waiting" not in state(), timeout=10,
             what=f"the page to show {expected}")
    recorder.close()


@pytest.mark.browser
def test_a_critical_alert_shows_the_banner_and_can_be_acknowledged(
    server: DashServer, browser: webdriver.Chrome, broker: Mosquitto, warehouse: str,
) -> None:
    recorder = Recorder(broker.host, broker.port, f"iot/{HOME}/gateway/alerts/ack")
    browser.get(server.url + "/security")
    wait_for(lambda: "Event log" in page_text(browser), timeout=20, what="the security page")
    raise_alert(warehouse, HOME, "intrusion-door-front-1", AlertState.RAISED, time.time())
    banner = lambda: browser.find_element(By.ID, "alert-banner").text  # noqa: E731
    wait_for(lambda: "Front door opened while away" in banner(), timeout=10, what="the critical banner")
    browser.find_element(By.XPATH, "//*[@id='alert-banner']//button").click()
    ack = decode_alert_ack(wait_for(lambda: recorder.on("alerts/ack"), what="the acknowledgement")[0])
    assert ack.id == "intrusion-door-front-1" and ack.by == "dashboard"
    wait_for(lambda: "Acknowledgement sent" in banner(), timeout=10, what="the banner to say it was sent")
    # The gateway records who and when; the acknowledgement comes back through the uplink.
    raise_alert(warehouse, HOME, "intrusion-door-front-1", AlertState.ACKNOWLEDGED, time.time(), ack_by="dashboard")
    wait_for(lambda: banner() == "", timeout=10, what="the banner to go")
    recorder.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, warehouse: str, broker: Mosquitto) -> Iterator[DashServer]:
    config = home_config(tmp_path_factory.mktemp("guarded"), HOME)
    users = f"alice={generate_password_hash('correct horse', method='pbkdf2:sha256:1000')}"
    made = DashServer(config, warehouse, broker.url, host="127.0.0.2", env={"IOTPIPE_DASH_USERS": users}).start()
    yield made
    made.stop()


@pytest.mark.browser
def test_login_is_enforced_off_the_default_loopback(guarded: DashServer, browser: webdriver.Chrome) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(guarded.url + "/_dash-layout", timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    browser.get(guarded.url + "/energy")
    wait_for(lambda: "/login" in browser.current_url, timeout=10, what="the login page")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("wrong")
    browser.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "Wrong user name or password" in browser.page_source, timeout=10, what="the refusal")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("correct horse")
    browser.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "Energy hogs" in page_text(browser), timeout=20, what="the energy page after login")
    assert browser.current_url.endswith("/energy") and "pbkdf2" not in browser.page_source


def test_refuses_to_listen_off_loopback_without_users(tmp_path: Path, broker: Mosquitto) -> None:
    config = home_config(tmp_path, "nobody")
    env = {k: v for k, v in os.environ.items() if k != "IOTPIPE_DASH_USERS"}
    done = subprocess.run(
        [sys.executable, "-m", "iotpipe", "--config", str(config), "--db-url", f"sqlite:///{tmp_path}/w.db",
         "--edge-url", broker.url, "dash", "--host", "0.0.0.0", "--port", "9"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 78, done.stderr
    assert "dashboard.users: listening on 0.0.0.0 needs at least one user" in done.stderr
