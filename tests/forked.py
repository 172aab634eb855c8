"""Running the `feeds` command in a forked child of the test process.

A fresh `feeds` process spends most of a second importing its libraries, and the suite runs
the command some hundreds of times. A child forked from the test process, which has imported
them once, runs the same command line (`feeds.cli.main`, as the console script does) in a
process of its own: its own working folder, environment, standard streams, exit code, and
nothing it does reaches back into the tests. The daemon and anything a test must signal or
kill still starts as a real `feeds` process (tests.conftest.Process).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence


def run_forked(args: Sequence[str], *, cwd: str, env: Mapping[str, str],
               timeout: float) -> subprocess.CompletedProcess[str]:
    """`feeds ARGS` as subprocess.run(capture_output=True, text=True) would give it."""
    from feeds.cli import main  # imported here, in the parent, once per test process

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(main, args, cwd, env, out.fileno(), err.fileno())
        status = _wait(pid, timeout, args)
        out.seek(0)
        err.seek(0)
        stdout, stderr = (f.read().decode("utf-8", "replace") for f in (out, err))
    code = os.waitstatus_to_exitcode(status)
    return subprocess.CompletedProcess(["feeds", *args], code, stdout, stderr)


def _child(main: object, args: Sequence[str], cwd: str, env: Mapping[str, str], out: int,
           err: int) -> None:
    code = 1
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                      line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      line_buffering=True)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        try:
            main.main(args=list(args), prog_name="feeds")  # type: ignore[attr-defined]
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None
                                                                   else 1)
            if isinstance(exit_.code, str):
                print(exit_.code, file=sys.stderr)
    except BaseException:  # the command's own crash: what a real process would print
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a stream the command closed
                stream.flush()
        os._exit(code)


def _wait(pid: int, timeout: float, args: Sequence[str]) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(["feeds", *args], timeout)
        time.sleep(0.005)
