"""A real iaxmodem (Debian package) on loopback with a pty, started non-interactively.

iaxmodem reads its configuration only from ``/etc/iaxmodem/<name>`` (no option for another
directory), so `IaxModem` writes a uniquely named file there, points the modem's device
symlink into a short temporary directory (iaxmodem truncates long device paths), runs ``stdbuf -oL -eL iaxmodem <name>`` and removes the
file, the process and the symlink again on `stop()` (also when a test fails: use it as a
context manager or through a fixture).  `at()` talks AT commands to the pty.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import termios
import time
import tty
import uuid
from pathlib import Path

import pytest

CONFIG_DIR = Path("/etc/iaxmodem")


def require() -> None:
    if shutil.which("iaxmodem") is None:
        pytest.skip("iaxmodem is not installed (apt-get install iaxmodem)")
    if os.geteuid() != 0:
        pytest.skip("iaxmodem needs root to write /etc/iaxmodem")


def free_udp_port() -> int:
    """A UDP port nobody holds on 0.0.0.0 (iaxmodem binds all addresses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


class IaxModem:
    """One iaxmodem process: its UDP port, its pty and its output."""

    def __init__(self, workdir: Path, *, server_port: int, peername: str = "iaxmodem",
                 secret: str = "", refresh: int = 0, codec: str = "alaw",
                 cidname: str = "Test Modem", cidnumber: str = "5550000") -> None:
        self.name = f"ttyMFX{uuid.uuid4().hex[:8]}"
        self.port = free_udp_port()
        # iaxmodem keeps the device path in a short buffer: keep it well under 60 characters
        self._devdir = Path(tempfile.mkdtemp(prefix="iaxm", dir="/tmp"))
        self.device = self._devdir / self.name
        self.output = workdir / f"{self.name}.log"
        self.config = CONFIG_DIR / self.name
        CONFIG_DIR.mkdir(exist_ok=True)
        self.config.write_text(
            f"device {self.device}\nowner root:root\nmode 660\nport {self.port}\n"
            f"refresh {refresh}\nserver 127.0.0.1:{server_port}\npeername {peername}\n"
            f"secret {secret}\ncidname {cidname}\ncidnumber {cidnumber}\ncodec {codec}\n")
        self._out = open(self.output, "wb")
        self.proc = subprocess.Popen(["stdbuf", "-oL", "-eL", "iaxmodem", self.name],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.fd: int | None = None
        self._buffer = b""
        deadline = time.monotonic() + 5
        while not self.device.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"iaxmodem did not start: {self.log()}")
            time.sleep(0.05)
        self.fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.output.read_text(errors="replace")
        return ""

    def write(self, text: str) -> None:
        assert self.fd is not None
        os.write(self.fd, text.encode())

    def read_until(self, patterns: tuple[str, ...], timeout: float) -> str:
        """Read the pty until one of ``patterns`` shows; returns all text read (may be short)."""
        assert self.fd is not None
        deadline = time.monotonic() + timeout
        while True:
            text = self._buffer.decode(errors="replace")
            if any(p in text for p in patterns):
                self._buffer = b""
                return text
            left = deadline - time.monotonic()
            if left <= 0:
                self._buffer = b""
                return text
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                with contextlib.suppress(BlockingIOError, OSError):
                    self._buffer += os.read(self.fd, 4096)

    def at(self, command: str, expect: tuple[str, ...] = ("OK", "ERROR"),
           timeout: float = 5.0) -> str:
        self.write(command + "\r")
        return self.read_until(expect, timeout)

    def stop(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:  # iaxmodem sends REGREL and takes a moment to exit
                self.proc.wait(timeout=6)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=3)
        self._out.close()
        with contextlib.suppress(FileNotFoundError):
            self.config.unlink()
        shutil.rmtree(self._devdir, ignore_errors=True)

    def __enter__(self) -> IaxModem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- audio a class 1 modem recognises: V.21 channel 2 HDLC flags, A-law ------------------
_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def alaw_encode(samples: "list[int]") -> bytes:
    """G.711 A-law of 16-bit samples (the classic segment search)."""
    out = bytearray()
    for s in samples:
        v = int(s) >> 3
        if v >= 0:
            mask = 0xD5
        else:
            mask, v = 0x55, -v - 1
        seg = next((i for i, end in enumerate(_SEG_END) if v <= end), 8)
        if seg >= 8:
            out.append(0x7F ^ mask)
            continue
        a = (seg << 4) | ((v >> 1) & 0xF if seg < 2 else (v >> seg) & 0xF)
        out.append(a ^ mask)
    return bytes(out)


def v21_flags_alaw(seconds: float, rate: int = 8000) -> bytes:
    """V.21 channel 2 FSK (mark 1650 Hz, space 1850 Hz, 300 bit/s) carrying HDLC flags."""
    import math

    bits = [int(b) for b in "01111110"]
    out, phase = [], 0.0
    for n in range(int(seconds * rate)):
        bit = bits[int(n * 300 / rate) % 8]
        phase += 2 * math.pi * (1650 if bit else 1850) / rate
        out.append(int(8000 * math.sin(phase)))
    return alaw_encode(out)
