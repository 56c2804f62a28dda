"""A Maildir writer, and a mailer that delivers into one (the embedded defaults' mailbox).

What does it do?  `deliver_to_maildir(root, message)` writes one message the way Maildir
wants (https://cr.yp.to/proto/maildir.html): into ``tmp/`` under a unique name, fsynced,
then renamed into ``new/`` (so a reader never sees half a message), and returns the path.
`MaildirMailer` has the `mailfax.mail_out.Mailer` shape (``await send(message, sender=,
recipients=)``), so the inbound service and the queue runner deliver into a Maildir when no
relay is configured — with the built-in loopback line, a received fax lands as a PDF in
``<data_dir>/Maildir/new/`` without any MTA.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from email.message import EmailMessage
from pathlib import Path

from mailfax.mail_out import DeliveryError

_counter = itertools.count(1)


def ensure_maildir(root: Path) -> Path:
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver_to_maildir(root: Path, data: bytes, *, now: float | None = None) -> Path:
    """Write ``data`` as one message into ``root``; returns its path in ``new/``."""
    ensure_maildir(root)
    now = time.time() if now is None else now
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    name = f"{int(now)}.M{int(now * 1e6) % 1000000}P{os.getpid()}Q{next(_counter)}.{host}"
    tmp = root / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    final = root / "new" / name
    os.rename(tmp, final)
    dfd = os.open(root / "new", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return final


class MaildirMailer:
    """Delivers every message into one Maildir, whoever it is addressed to."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.delivered: list[Path] = []

    async def send(self, message: EmailMessage, *, sender: str | None = None,
                   recipients: list[str] | None = None) -> None:
        data = message.as_bytes()
        if recipients and "Delivered-To" not in message:
            data = b"".join(f"Delivered-To: {r}\n".encode() for r in recipients) + data
        try:
            path = await asyncio.to_thread(deliver_to_maildir, self.root, data)
        except OSError as e:
            raise DeliveryError(f"cannot write to {self.root}: {e.strerror or e}", transient=True) from None
        self.delivered.append(path)
