"""Start and stop a private Mosquitto on a free port, with a config from `deploy/mosquitto/`."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from protocol.settings import REPO_ROOT

logger = logging.getLogger(__name__)
CONFIGS = REPO_ROOT / "deploy" / "mosquitto"


class BrokerError(RuntimeError):
    """Mosquitto is missing, would not start, or would not stop."""


def mosquitto_binary() -> str:
    """Path of the mosquitto binary; it lives in /usr/sbin, often outside a user's PATH."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise BrokerError("mosquitto is not installed: run the README's command, or `sudo apt-get install mosquitto`")
    return found


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens there, else a port the kernel says is free."""
    if preferred is not None and port_is_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing can be bound on 127.0.0.1:`port` by someone else."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Mosquitto:
    """A private Mosquitto: `start()`, `stop()` (SIGTERM, saves state), `kill()` (SIGKILL, loses unsaved)."""

    def __init__(self, workdir: Path, *, config: str = "edge", port: int | None = None, extra: str = "") -> None:
        self.workdir = Path(workdir)
        self.template = CONFIGS / f"{config}.conf"
        self.port = port if port is not None else free_port()
        self.host = "127.0.0.1"
        self.extra = extra
        self.log_path = self.workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker's URL, `mqtt://127.0.0.1:PORT`."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> Path:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            # Started as root, Mosquitto would drop to user "mosquitto", which cannot write our folder.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"listener {self.port} {self.host}\npersistence_location {data}/\n"
            f"{self.template.read_text()}\n{self.extra}\n"
        )
        return conf

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections; BrokerError shows its log if it dies."""
        if self.running:
            return
        if not port_is_free(self.port):
            raise BrokerError(f"cannot start mosquitto: port {self.port} is already in use")
        conf = self._write_config()
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while not port_answers(self.host, self.port):
            if self._proc.poll() is not None:
                code = self._proc.returncode
                raise BrokerError(f"mosquitto on port {self.port} exited with {code}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerError(f"mosquitto on port {self.port} did not answer in {timeout} s: {self.log_tail()}")
            time.sleep(0.02)
        logger.info("broker started url=%s config=%s pid=%d", self.url, self.template.name, self._proc.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its state), wait, then SIGKILL if it lingers."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash; whatever Mosquitto had not saved is lost."""
        self._signal(signal.SIGKILL, 5.0)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        logger.info("broker stopped url=%s signal=%s", self.url, sig.name)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines Mosquitto wrote, for error messages."""
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
