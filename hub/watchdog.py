"""No orphan process: a CLI that ends, however it ends, takes the processes it started with it.

`hub serve` and `hub demo` start the hub's Prefect server and the runner of its schedules
(`pipelines.orchestrator`), which they stop on their way out. SIGTERM and SIGHUP therefore
become a normal exit (atexit and `finally` blocks run); for SIGKILL, which runs nothing, the CLI
leads a process group of its own and a tiny watchdog process holds the read end of a pipe: when
the CLI dies the pipe closes and the watchdog ends the group. Run as
`python -m hub.watchdog PGID FD OWNED`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)

CLEAN_EXIT = b"x"  # written by the CLI's last atexit handler: its children are already stopped
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL of the leftover group

_started = False


def guard_children() -> None:
    """Make SIGTERM/SIGHUP a normal exit and start the watchdog (once per process, POSIX only)."""
    global _started
    if _started or os.name != "posix":
        return
    _started = True
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    # A shell job already leads its group (a pipeline's `tee` may share it); a CLI started by
    # another program shares its parent's group, which the watchdog must never end.
    owned = os.getpgrp() != os.getpid()
    if owned:
        parent_group = os.getpgrp()
        os.setpgid(0, 0)
        _follow_parent()
        _take_terminal(parent_group)
    read_end, write_end = os.pipe()
    subprocess.Popen(  # noqa: S603 — our own interpreter and module
        [sys.executable, "-m", "hub.watchdog", str(os.getpgrp()), str(read_end), str(int(owned))],
        pass_fds=(read_end,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # outside the group it ends
    os.close(read_end)
    # Registered now, so it runs after the handlers registered later.
    atexit.register(_say_clean_exit, write_end)


def _say_clean_exit(write_end: int) -> None:
    with contextlib.suppress(OSError):  # the watchdog is gone: nobody to tell
        os.write(write_end, CLEAN_EXIT)


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds like Ctrl-C does: runs close as failed, `finally` stops the children.
    raise SystemExit(128 + signum)


def _follow_parent() -> None:
    """Leaving the parent's group means its Ctrl-C no longer reaches us: die with the parent."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog still covers SIGKILL
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _take_terminal(parent_group: int) -> None:
    """Ctrl-C goes to the terminal's foreground group, which we just left: where our parent's
    group holds the terminal (`make demo` in a shell), our group takes it, so Ctrl-C reaches us;
    `make`, which waits for its child on Ctrl-C rather than ending it, then ends with us."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:  # no controlling terminal: nobody can press Ctrl-C
        return
    try:
        if os.tcgetpgrp(terminal) != parent_group:
            return  # a background job, or another program's terminal: not ours to take
        # A group not in the foreground that sets it is sent SIGTTOU: ignored for the call.
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(terminal, os.getpgrp())
        finally:
            signal.signal(signal.SIGTTOU, previous)
    except OSError:
        pass
    finally:
        os.close(terminal)


def watch(pgid: int, fd: int, owned: bool) -> None:
    """Wait for the CLI to end; then end what is left of its process group."""
    clean = False
    while chunk := os.read(fd, 64):  # b"" once every write end is closed: the CLI is gone
        clean = clean or CLEAN_EXIT in chunk
    # A clean exit already stopped its children; a shell job's group may hold its pipeline's
    # other commands, which only an abnormal end (a SIGKILL) justifies ending.
    if clean and not owned:
        return
    end_group(pgid)


def end_group(pgid: int) -> None:
    """SIGTERM a process group, then SIGKILL whatever is still in it after a grace period."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        if not _signal_group(pgid, 0):
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send a signal to a group; False once the group has no member left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # only zombies or foreign processes left: nothing we may end
        return False
    return True


if __name__ == "__main__":
    for ignored in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(ignored, signal.SIG_IGN)  # only the pipe ends the watchdog
    watch(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1")
