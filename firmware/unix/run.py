# Run the firmware under MicroPython's unix port with the fake HAL, as the board would:
#   micropython -X heapsize=64k firmware/unix/run.py WORKDIR [LIBDIR]
# WORKDIR holds config.json (with an optional "sim" section); LIBDIR defaults to firmware/lib and may be
# a build/firmware/lib of .mpy files. boot.py then main.py are executed from firmware/ unchanged.
import os
import sys

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
if not _here.startswith("/"):
    _here = os.getcwd() + "/" + _here
_fw = _here.rsplit("/", 1)[0]
_lib = sys.argv[2] if len(sys.argv) > 2 else _fw + "/lib"
if not _lib.startswith("/"):
    _lib = os.getcwd() + "/" + _lib
sys.path[:0] = [_here, _lib]  # the fake hal shadows lib/hal.py
os.chdir(sys.argv[1])

import hal  # noqa: E402

hal.setup("config.json")
for _name in ("boot.py", "main.py"):
    with open(_fw + "/" + _name) as _f:
        _code = _f.read()
    exec(_code, {"__name__": "__main__"})
