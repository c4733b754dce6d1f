"""Save a PNG of every dashboard page into docs/screenshots/: `python -m dash_app.screenshots [FOLDER]`.

It builds a 30-day sample warehouse of the example home, starts a private broker and the dashboard as a server
process, and photographs each page in headless Chromium (Debian's chromium + chromium-driver).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from selenium import webdriver
from werkzeug.security import generate_password_hash

from cloud.warehouse import schema
from cloud.warehouse.db import make_engine, migrate
from dash_app.browser import DashServer, chromium, drawn, wait_for
from dash_app.sample import fill
from iotpipe.broker import Mosquitto
from protocol import AlarmMode, Channel, ModeState, encode
from protocol.endpoint import BrokerURL, make_client
from protocol.settings import EXAMPLE_CONFIG, REPO_ROOT, load_settings
from protocol.topics import GATEWAY, edge

logger = logging.getLogger(__name__)

OUT = REPO_ROOT / "docs" / "screenshots"
# Texts only callbacks write: the page is photographed once all are there and every graph shows its data.
SHOTS = {"home": ("/", ("Last motion", "Turn o", "arming")), "energy": ("/energy", ("untracked", "3000 W")),
         "system": ("/system", ("started", "online")), "security": ("/security", ("event(s), page", "°C", "ALARM"))}


def build_warehouse(folder: Path, now: float) -> str:
    """A migrated warehouse with 30 days of the example home."""
    url = f"sqlite:///{folder / 'warehouse.db'}"
    engine = make_engine(url)
    migrate(engine)
    fill(engine, load_settings(EXAMPLE_CONFIG, env={}).home, now, days=30, minute_days=7.2, minute_kinds={"power"})
    engine.dispose()
    return url


def arm_away(broker: Mosquitto, home: str, now: float) -> None:
    """Publish a retained "away" mode with an exit delay still running, as the gateway would."""
    client = make_client(BrokerURL.parse(broker.url), "screenshots")
    client.connect(broker.host, broker.port)
    client.loop_start()
    state = ModeState(mode=AlarmMode.AWAY, since=now, source="dashboard", by="alice", armed_at=now + 45)
    client.publish(edge(home, GATEWAY, Channel.MODE), encode(state), qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def door_alarm(url: str, home: str, now: float) -> None:
    """A critical alert in the warehouse: the front door opened while away."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.alerts).values(
            home=home, alert_id="intrusion-door-front", source="gateway", rule="intrusion", severity="critical",
            state="raised", ts=now, message="Front door opened while away", device="door-front", room="hallway",
            value=1.0, notified=True))
    engine.dispose()


def body_text(driver: webdriver.Chrome) -> str:
    """Everything the page shows, the banner (outside #page) included."""
    return str(driver.find_element("tag name", "body").text)


def shoot(driver: webdriver.Chrome, url: str, ready: tuple[str, ...], path: Path) -> None:
    """Open a page, wait until it is drawn, fit the window to it and save a PNG."""
    driver.set_window_size(1280, 900)
    driver.get(url)
    wait_for(lambda: all(w in body_text(driver) for w in ready) and drawn(driver), timeout=30, what=f"{url} drawn")
    for _ in range(3):  # the page reflows when the window grows: fit until the height settles
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(1280, height + 140)
    time.sleep(1.0)  # let plotly re-layout to the new window size and pending callbacks land (not a test wait)
    driver.save_screenshot(str(path))
    logger.info("saved %s", path)


def login_page(driver: webdriver.Chrome, folder: Path, db_url: str, broker: Mosquitto, out: Path) -> None:
    """The sign-in page of a dashboard that listens off loopback."""
    users = f"alice={generate_password_hash(tempfile.mktemp())}"
    server = DashServer(EXAMPLE_CONFIG, db_url, broker.url, host="127.0.0.2", env={"IOTPIPE_DASH_USERS": users})
    server.start()
    try:
        driver.set_window_size(1280, 700)
        driver.get(server.url + "/")
        wait_for(lambda: "Sign in" in driver.page_source, what="the login page")
        driver.save_screenshot(str(out / "login.png"))
    finally:
        server.stop()


def main(out: Path = OUT) -> None:
    """Photograph every page into `out`."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out.mkdir(parents=True, exist_ok=True)
    home = load_settings(EXAMPLE_CONFIG, env={}).home_id
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker", config="edge") as broker:
        folder, now = Path(tmp), time.time()
        db_url = build_warehouse(folder, now)
        arm_away(broker, home, time.time())
        server = DashServer(EXAMPLE_CONFIG, db_url, broker.url).start()
        driver = chromium(folder / "profile")
        try:
            for name, (path, ready) in SHOTS.items():
                if name == "security":
                    door_alarm(db_url, home, time.time())
                shoot(driver, server.url + path, ready, out / f"{name}.png")
            login_page(driver, folder, db_url, broker, out)
        finally:
            driver.quit()
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
