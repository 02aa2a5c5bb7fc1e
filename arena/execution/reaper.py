"""Ray's processes die with the driver that started them, however the driver ends.

``ray.init`` on this machine starts GCS and the raylet bound to the driver (the kernel kills
them when it dies), but the raylet's own children (the dashboard and runtime-env agents,
workers) are not: after a ``kill -9`` of a night they waited for a GCS that was gone, for one
to two minutes. ``watch()`` starts a small watchdog process (this module, stdlib only) in its
own session that records the driver's descendants every ``POLL_S`` seconds and holds the read
end of a pipe whose write end only the driver has. When the pipe closes while the driver is
gone (killed, crashed), it sends SIGTERM to every recorded process that is still the same
process (pid and start time), then SIGKILL after ``GRACE_S``. A driver that shuts Ray down
itself calls ``stop()``: the watchdog sees the driver alive and exits without killing anything.

Linux only (``/proc``); elsewhere ``watch()`` does nothing.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

POLL_S = 1.0
GRACE_S = 2.0
_pipe: int | None = None
_proc: subprocess.Popen | None = None


def watch() -> None:
    """Start the watchdog for this process (idempotent)."""
    global _pipe, _proc
    if _pipe is not None or not os.path.isdir("/proc"):
        return
    read, write = os.pipe()
    _proc = subprocess.Popen(
        [sys.executable, "-m", "arena.execution.reaper", str(os.getpid())],
        stdin=read,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a signal to the driver's group does not reach it
        close_fds=True,
    )
    os.close(read)
    os.set_inheritable(write, False)  # Ray's children must not hold the driver's end
    _pipe = write


def stop() -> None:
    """The driver shut Ray down itself: release the watchdog without killing anything."""
    global _pipe, _proc
    if _pipe is not None:
        os.close(_pipe)
        _pipe = None
    if _proc is not None:
        try:
            _proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _proc.kill()
        _proc = None


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])  # field 22 (starttime), counted after the name
    except (OSError, IndexError, ValueError):
        return None


def _parents() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                out[int(name)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def descendants(root: int) -> dict[int, int | None]:
    """``{pid: start time}`` of every live descendant of ``root``."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, stack = {}, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found[pid] = _start_time(pid)
        stack.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    """Running (a killed driver its parent has not reaped yet is a zombie: not alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _kill(recorded: dict[int, int | None]) -> None:
    same = {p for p, start in recorded.items() if start is not None and _start_time(p) == start}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in same:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE_S
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not any(_start_time(p) == recorded[p] for p in same):
                return
            time.sleep(0.1)
        same = {p for p in same if _start_time(p) == recorded[p]}


def main(driver: int) -> int:
    recorded: dict[int, int | None] = {}
    while True:
        recorded.update(descendants(driver))
        recorded.pop(os.getpid(), None)
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):  # the driver's end closed
            break
    time.sleep(0.2)  # a driver that closed its end itself is still there
    if _alive(driver):
        return 0
    _kill(recorded)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
