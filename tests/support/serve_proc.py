"""``mailfax serve`` as a real process for the operations tests (status, metrics, SIGTERM).

`ServeProcess` writes a config for the built-in loopback line (no trunk: every number is
answered inside the same process), free SMTP and metrics ports and its own data directory,
starts ``python -m mailfax serve``, waits for its "listening" line, and is stopped by PID
(SIGTERM first, as systemd does; SIGKILL only if it does not exit).
"""

from __future__ import annotations

import contextlib
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.smtp_port = free_port()
        self.metrics_port = free_port()
        self.config = self.workdir / "mailfax.yaml"
        self.config.write_text(
            f"smtp: {{listen: 127.0.0.1:{self.smtp_port}}}\nfax: {{domains: [fax.localhost]}}\n"
            f"storage: {{data_dir: {self.data}}}\nmetrics: {{listen: 127.0.0.1:{self.metrics_port}}}\n")
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "serve.log"

    def start(self, timeout: float = 60) -> "ServeProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "mailfax", "serve", "--config", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while "mailfax: listening" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mailfax serve did not start: {self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def mail(self, number: str, *, message) -> None:
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as s:
            s.send_message(message, from_addr="alice@localhost", to_addrs=[f"{number}@fax.localhost"])

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mailfax", *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=timeout)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate()
