"""`iotpipe firmware build|flash`: what it writes, what it would run, and how it fails without a board."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iotpipe import firmware_cmd
from iotpipe.firmware_cmd import FIRMWARE_DIR, FirmwareError, build, compile_file, firmware, flash_commands


def test_build_compiles_lib_and_copies_entry_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(firmware, ["build", "--out", str(tmp_path / "fw")])
    assert result.exit_code == 0, result.output
    libs = sorted(p.name for p in (tmp_path / "fw" / "lib").iterdir())
    assert libs == sorted(f"{p.stem}.mpy" for p in (FIRMWARE_DIR / "lib").glob("*.py"))
    assert (tmp_path / "fw" / "main.py").is_file() and (tmp_path / "fw" / "boot.py").is_file()
    assert not (tmp_path / "fw" / "check").exists()


def test_a_syntax_error_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    with pytest.raises(FirmwareError, match=r"^mpy-cross failed on .*bad.py: SyntaxError"):
        compile_file(bad, tmp_path / "bad.mpy")


def test_flash_without_a_board_says_so_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text((FIRMWARE_DIR / "config.example.json").read_text())
    result = CliRunner().invoke(firmware, ["flash", "--port", str(tmp_path / "ttyUSB9"), "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: no board on {tmp_path / 'ttyUSB9'}")


def test_flash_without_a_config_names_the_file(tmp_path: Path) -> None:
    port = tmp_path / "tty"
    port.touch()
    result = CliRunner().invoke(firmware, ["flash", "--port", str(port), "--config", str(tmp_path / "none.json")])
    assert result.exit_code == 1
    assert "none.json not found: copy firmware/config.example.json" in result.output


def test_flash_runs_esptool_then_mpremote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image, port, config = tmp_path / "ESP32_GENERIC.bin", tmp_path / "tty", tmp_path / "config.json"
    image.write_bytes(b"\xe9")
    port.touch()
    config.write_text("{}")
    calls: list[list[str]] = []

    def fake_run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(firmware_cmd.subprocess, "run", fake_run)
    firmware_cmd.flash(str(port), config, image, build_dir=tmp_path / "build")
    assert [c[2] for c in calls] == ["esptool", "esptool", "mpremote"]
    assert calls[0][-1] == "erase-flash" and calls[1][-3:] == ["-z", "0x1000", str(image)]
    copy = calls[2]
    assert copy[3:5] == ["connect", str(port)] and f"{config}" in copy and copy[-1] == "reset"
    assert str(tmp_path / "build" / "lib") in copy


def test_a_failing_tool_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port, config = tmp_path / "tty", tmp_path / "config.json"
    port.touch()
    config.write_text("{}")

    def fake_run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, "", "Traceback...\nmpremote: failed to access /dev/x")

    monkeypatch.setattr(firmware_cmd.subprocess, "run", fake_run)
    with pytest.raises(FirmwareError, match=r"^copying the firmware on .* failed: mpremote: failed to access"):
        firmware_cmd.flash(str(port), config, None, build_dir=tmp_path / "build")


def test_flash_commands_without_image_only_copy(tmp_path: Path) -> None:
    steps = flash_commands("/dev/ttyUSB0", tmp_path, tmp_path / "c.json", None)
    assert [what for _, what in steps] == ["copying the firmware"]
    build(tmp_path / "b")  # and the default build works from any working directory
