"""Capture loopback UDP with dumpcap and decode it with tshark's dissectors (tests only)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def require() -> None:
    if shutil.which("tshark") is None or shutil.which("dumpcap") is None:
        pytest.skip("tshark/dumpcap not installed (apt-get install tshark)")
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root")


class Capture:
    """``dumpcap -i lo -f <filter> -w <file>`` from start to `stop()`.

    dumpcap says "Capturing on" a moment before its filter is live, so the capture is only
    taken as started once a probe datagram to ``probe_port`` (added to the filter) shows up
    in the file.  Leave that port out when decoding (``-Y``).
    """

    def __init__(self, path: Path, bpf: str, probe_port: int) -> None:
        self.path = path
        bpf = f"({bpf}) or udp port {probe_port}"
        self._err = open(path.with_suffix(".err"), "w+b")
        self.proc = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", bpf, "-w", str(path)],
                                     stdout=subprocess.DEVNULL, stderr=self._err,
                                     start_new_session=True)
        deadline = time.monotonic() + 30  # generous: CI machines are busy
        while b"Capturing on" not in path.with_suffix(".err").read_bytes():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("dumpcap did not start: "
                                   + path.with_suffix(".err").read_text(errors="replace"))
            time.sleep(0.05)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            while not path.exists() or path.stat().st_size < 400:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("dumpcap captured no probe")
                probe.sendto(b"probe" * 20, ("127.0.0.1", probe_port))
                time.sleep(0.1)
            size = path.stat().st_size
            probe.sendto(b"probe" * 20, ("127.0.0.1", probe_port))
            while path.stat().st_size == size and time.monotonic() < deadline:
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            time.sleep(0.3)  # let the last packets reach the file
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()

    def decode(self, *args: str) -> str:
        """``tshark -r <file> <args>`` output."""
        return subprocess.run(["tshark", "-r", str(self.path), *args], capture_output=True,
                              text=True, timeout=60, check=True).stdout
