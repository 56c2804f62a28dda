"""A two-gateway rig for the crash-safety test: a sender under test and a far end that survives.

What does it do?  `FarEnd` and `Sender` are two ``mailfax serve`` processes, each with its own
data directory, SMTP port and IAX2 port (the ``iax:`` section).  The sender's only trunk
points at the far end's IAX2 port (no registration, no secret); the far end has a trunk entry
for the sender's address, so its inbound channel limit is that trunk's channels and the
sender is a configured peer (no call token).  Both relay their mail (reports, received-fax
mails) to `MailSink`, an aiosmtpd server in the test process, so nothing is lost when the
sender is killed.  `Gateway.kill()` is SIGKILL by PID; `stop()` is SIGTERM (a gateway that
stops hangs up its calls, and the far end then stores every reception it had).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collect:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"


class MailSink:
    """An SMTP sink (aiosmtpd) keeping every message it is given, parsed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Collect()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "MailSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def messages(self) -> list:
        with self.handler.lock:
            return list(self.handler.messages)


class Gateway:
    """One ``mailfax serve`` process with its own config and data directory."""

    def __init__(self, workdir: Path, *, trunk_port: int, trunk_channels: int, relay_port: int,
                 iax_port: int, extra: str = "") -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.smtp_port = free_port()
        self.iax_port = iax_port
        self.config = self.dir / "mailfax.yaml"
        self.config.write_text(
            f"smtp: {{listen: 127.0.0.1:{self.smtp_port}}}\nfax: {{domains: [fax.test]}}\n"
            f"storage: {{data_dir: {self.data}}}\niax: {{listen: 127.0.0.1:{iax_port}}}\n"
            f"trunks: [{{name: line, host: 127.0.0.1, port: {trunk_port}, channels: {trunk_channels},"
            f" local_ident: '+49 30 1234 000'}}]\n"
            f"relay: {{host: 127.0.0.1, port: {relay_port}, from: mailfax@gw.test}}\n"
            "shutdown: {grace: 0s}\n" + extra)    # stop() hangs up at once, as the test expects
        self.log_path = self.dir / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def queue_db(self) -> Path:
        return self.data / "queue.sqlite"

    @property
    def spool(self) -> Path:
        return self.data / "spool"

    def start(self, timeout: float = 90) -> None:
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {self.starts} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailfax", "serve", "--config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while self.log().count("mailfax: listening") < self.starts:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mailfax serve did not start: {self.log()[-3000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
