# Run the firmware under MicroPython's unix port with the fake HAL, as the board would:
#   micropython -X heapsize=64k firmware/unix/run.py WORKDIR [LIBDIR [HALDIR]]
# WORKDIR holds config.json (with an optional "sim" section for the fake HAL). LIBDIR defaults to
# firmware/lib; pass build/firmware/lib to run the .mpy files as deployed (a 64 KiB heap has no room to
# compile the sources at import). HALDIR (default firmware/unix) holds the fake hal, found before LIBDIR's.
# boot.py then main.py are executed from firmware/ unchanged.
import os
import sys


def _abs(path):
    return path if path.startswith("/") else os.getcwd() + "/" + path


_here = _abs(sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else ".")
_fw = _here.rsplit("/", 1)[0]
_lib = _abs(sys.argv[2]) if len(sys.argv) > 2 else _fw + "/lib"
_hal = _abs(sys.argv[3]) if len(sys.argv) > 3 else _here
sys.path[:0] = [_hal, _lib]
os.chdir(sys.argv[1])

import hal  # noqa: E402, F401  (the fake HAL reads config.json's "sim" section as it loads)

for _name in ("boot.py", "main.py"):
    with open(_fw + "/" + _name) as _f:
        _code = _f.read()
    exec(_code, {"__name__": "__main__"})
