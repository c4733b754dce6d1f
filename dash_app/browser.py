"""The dashboard as a server process and headless Chromium driving it: for browser tests, screenshots, the bench.

Dev tooling only (Selenium is a dev dependency): the running dashboard never imports this module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from iotpipe.broker import free_port, port_answers
from protocol.settings import EXAMPLE_CONFIG, REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
                "--window-size=1280,1800")


# Every graph shows its data or its "no data" note, not the blank plot dcc.Graph draws before its first figure.
GRAPHS_DRAWN = ("[...document.querySelectorAll('.dash-graph')]"
                ".every(g => g.querySelector('.main-svg .trace, .main-svg .annotation'))")
DRAWN_JS = f"return {GRAPHS_DRAWN};"
# One round trip: the page's text holds every word of arguments[0] and its graphs are drawn (webdriver's own
# element text is computed by a slow atom: on a page with tables, polling it costs more than the page takes).
READY_JS = ("const page = document.getElementById('page'); const text = page ? page.innerText : '';"
            f"return arguments[0].every(w => text.includes(w)) && {GRAPHS_DRAWN};")


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `predicate` every 10 ms until it is truthy; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return result


def home_config(folder: Path, home_id: str) -> Path:
    """The example home under `home_id`, written to `folder/home.toml`."""
    path = folder / "home.toml"
    path.write_text(EXAMPLE_CONFIG.read_text().replace('id = "demo"', f'id = "{home_id}"', 1))
    return path


class DashServer:
    """`python -m iotpipe dash` as a child process, polled until it answers; its output shown if it dies."""

    def __init__(self, config: Path, db_url: str, edge_url: str, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None) -> None:
        self.host, self.port = host, free_port()
        self.log = Path(tempfile.mkstemp(prefix="dash-", suffix=".log")[1])
        self.args = [sys.executable, "-m", "iotpipe", "--config", str(config), "--db-url", db_url, "--edge-url",
                     edge_url, "dash", "--host", host, "--port", str(self.port)]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the dashboard answers."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> DashServer:
        """Start and wait until the port answers."""
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._up, timeout=30, what=f"the dashboard on {self.url}")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"dashboard exited with {self.proc.returncode}:\n{self.output()}")
        return port_answers(self.host, self.port)

    def output(self) -> str:
        """What the server printed (the last 4000 characters)."""
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Terminate, wait, kill if it must."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def chromium(user_data: Path) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={user_data}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def by_pattern(driver: webdriver.Chrome, **component_id: str) -> WebElement:
    """The element of a Dash pattern-matching id (Dash writes it as JSON with sorted keys)."""
    key = json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return driver.find_element(By.XPATH, f"//*[@id='{key}']")


def pattern_text(driver: webdriver.Chrome, **component_id: str) -> str:
    """The text of a pattern-matching element, '' while it is not on the page yet."""
    key = json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    found = driver.find_elements(By.XPATH, f"//*[@id='{key}']")
    return found[0].text if found else ""


def drawn(driver: webdriver.Chrome) -> bool:
    """True when every graph on the page shows its data or its "no data" note (not the blank initial plot)."""
    return bool(driver.execute_script(DRAWN_JS))


def ready(driver: webdriver.Chrome, words: tuple[str, ...]) -> bool:
    """True when the page shows every one of `words` and all its graphs are drawn."""
    return bool(driver.execute_script(READY_JS, list(words)))


def page_text(driver: webdriver.Chrome) -> str:
    """The visible text of the page's content area ('' while it is not there yet)."""
    found = driver.find_elements(By.ID, "page")
    return found[0].text if found else ""
