"""Helper processes under limits: own process group, address-space and CPU limits, timeout.

Used for Ghostscript and paps: both read untrusted documents, so each runs with a memory
limit (RLIMIT_AS), a CPU limit (RLIMIT_CPU) and a wall-clock timeout after which its whole
process group is killed.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable

from mailfax.render_common import Limits, RenderError


def popen(cmd: list[str], limits: Limits, *, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
          stderr=subprocess.PIPE) -> subprocess.Popen:
    """Start `cmd` in its own process group with the resource limits applied before exec."""
    try:
        return subprocess.Popen(
            cmd, stdin=stdin, stdout=stdout, stderr=stderr,
            start_new_session=True, preexec_fn=limiter(limits),
        )
    except OSError as exc:
        raise RenderError(f"cannot run {cmd[0]}: {exc.strerror}") from None


def communicate(proc: subprocess.Popen, timeout: float, what: str, data: bytes | None = None) -> tuple[bytes, bytes]:
    """Feed `data`, wait at most `timeout` seconds; on timeout kill the group and raise."""
    try:
        return proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        raise RenderError(f"{what} did not finish within {timeout:g} s") from None


def run(cmd: list[str], limits: Limits, what: str, data: bytes) -> bytes:
    """Run `cmd` with `data` on stdin and return its stdout; RenderError on failure."""
    proc = popen(cmd, limits, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, err = communicate(proc, limits.timeout, what, data)
    if proc.returncode != 0:
        line = err.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"{what} failed: {line[-1][:200] if line else f'exit status {proc.returncode}'}")
    return out


def limiter(limits: Limits) -> Callable[[], None]:
    cpu = max(1, int(limits.timeout) + 1)

    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
