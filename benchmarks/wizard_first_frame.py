"""Time to the wizard's first frame, as a user sees it: `ftwiz` started in an 80x24 pseudo-terminal, the clock
stopped when the step bar is on the screen (then Ctrl+Q). The same for `ftwiz --preset tiny-demo`.

Target (issue 17): the first frame in under 1 s on an idle 2-core box. Slow work (probing, the doctor,
inspection, data checks) runs in workers after it.

    .venv/bin/python benchmarks/wizard_first_frame.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import time

CASES = [["ftwiz"], ["ftwiz", "--preset", "tiny-demo"]]
MARK = b"Hardware"  # the step bar: drawn in the first frame


def first_frame(args: list[str], timeout: float = 30.0) -> float:
    """Seconds from the process start to MARK on its terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the wizard on the pty, in a scratch folder with its own cache
        os.execvpe(sys.executable, [sys.executable, "-m", "ftwiz", *args[1:]], os.environ)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    start, seen, elapsed = time.perf_counter(), b"", float("nan")
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if MARK in seen:
                    elapsed = time.perf_counter() - start
                    break
        os.write(fd, b"\x11")  # Ctrl+Q
        time.sleep(0.3)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        os.environ.update(FTWIZ_CACHE_DIR=os.path.join(scratch, "cache"), TERM="xterm-256color")
        print(f"# wizard first frame, whole process in an 80x24 pty, {os.cpu_count()} CPUs")
        print("| command | " + " | ".join(f"run {i + 1} (s)" for i in range(args.repeat)) + " |")
        print("| --- |" + " --- |" * args.repeat)
        for case in CASES:
            times = [first_frame(case) for _ in range(args.repeat)]
            print(f"| `{' '.join(case)}` | " + " | ".join(f"{t:.2f}" for t in times) + " |")


if __name__ == "__main__":
    main()
