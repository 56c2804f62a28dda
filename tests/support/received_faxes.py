"""Helpers for the inbound tests: real fax pages, a ReceivedFax, decoders that are not ours
(Ghostscript for PDF, Pillow/libtiff for TIFF) and an aiosmtpd sink that can refuse."""

from __future__ import annotations

import email
import email.policy
import io
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aiosmtpd.controller import Controller
from PIL import Image

from dsp.t4 import Page
from mailfax.received import ReceivedFax

TEXT = ("Fax for the inbound tests\n\nLine two: 0123456789 abcdefghij\n" + "The quick brown fox. " * 6 + "\n")


def real_pages(n: int = 2, resolution: str = "fine") -> list[Page]:
    """Pages rendered by mailfax.render (paps + Ghostscript) from small texts, one per page."""
    from mailfax.render import render

    return [render(f"Page {i + 1} of {n}\n{TEXT}".encode(), resolution=resolution)[0] for i in range(n)]


def sample_fax(pages=None, **kw) -> ReceivedFax:
    pages = real_pages() if pages is None else pages
    base = dict(pages=tuple(pages), called="+4930123450", caller_id="+4989555123", caller_name="ACME",
                tsi="+49 89 555 123", pages_expected=len(pages), resolution="fine", page_width=1728,
                page_size="A4", bit_rate=14400, modem="V.17", coding="mmr", ecm=True,
                started_at=1795700000.0, duration=42.0, trunk="provider")
    base.update(kw)
    return ReceivedFax(**base)


def gs_pages(pdf: bytes, x_res: int, y_res: int) -> list[np.ndarray]:
    """A PDF rendered by Ghostscript at the fax resolution: one 1-is-black array per page."""
    with tempfile.TemporaryDirectory(prefix="mailfax-test-") as d:
        src = Path(d) / "in.pdf"
        src.write_bytes(pdf)
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pbmraw", f"-r{x_res}x{y_res}",
                        f"-sOutputFile={d}/p%03d.pbm", str(src)], check=True, timeout=120, capture_output=True)
        files = sorted(Path(d).glob("p*.pbm"))
        return [1 - np.asarray(Image.open(f).convert("L")) // 255 for f in files]


def pillow_tiff_pages(data: bytes) -> list[np.ndarray]:
    """A TIFF decoded by Pillow (libtiff): one 1-is-black array per page."""
    im = Image.open(io.BytesIO(data))
    out = []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        out.append(1 - np.asarray(im.convert("L")) // 255)
    return out


def attachments(msg) -> dict[str, bytes]:
    return {p.get_filename(): p.get_payload(decode=True) for p in msg.walk()
            if p.get_content_disposition() == "attachment"}


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SinkHandler:
    """Records messages; answers ``fail_code`` to the first ``fail_times`` DATA commands,
    and ``refuse`` (code) to RCPT of addresses listed in ``refused``."""

    fail_code: int = 451
    fail_times: int = 0
    refused: set = field(default_factory=set)
    refuse_code: int = 550
    messages: list = field(default_factory=list)   # (envelope recipients, raw bytes)
    tries: int = 0
    rcpt_delay: float = 0.0                         # seconds before answering RCPT (to cut a client off)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_delay:
            import asyncio

            await asyncio.sleep(self.rcpt_delay)
        if address.lower() in self.refused:
            return f"{self.refuse_code} 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.tries += 1
        if self.tries <= self.fail_times:
            return f"{self.fail_code} {'4.3.0 try again later' if self.fail_code < 500 else '5.3.0 rejected'}"
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK queued"

    def to(self, address: str) -> list[bytes]:
        return [raw for rcpts, raw in self.messages if address in rcpts]


def start_sink(handler: SinkHandler, port: int | None = None) -> Controller:
    c = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    c.start()
    return c
