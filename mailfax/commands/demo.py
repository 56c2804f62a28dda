"""``mailfax demo``: the whole round trip by itself, in a temporary data directory.

Starts the gateway in-process on its embedded defaults (SMTP on a free port of 127.0.0.1,
the built-in loopback line, Maildir delivery), mails itself a one-page PDF for
``+15555550199@fax.localhost`` over SMTP, and waits until the received fax has been delivered
into the Maildir.  The last line printed is the path of the delivered message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

NAME = "demo"
HELP = "fax a document to yourself over the built-in loopback line and show where it landed"
NUMBER = "+15555550199"


def add_arguments(parser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="use DIR instead of a new temporary directory")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds (default 300)")


def demo_pdf() -> bytes:
    """A one-page A4 PDF with a few lines of text (Pillow; no files read)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=48)
    lines = ["mailfax demo", "", "This page went email -> render -> T.4 -> T.30/V.17",
             "-> IAX2 over UDP on 127.0.0.1 -> T.30 -> PDF -> Maildir.", "",
             time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())]
    for i, text in enumerate(lines):
        draw.text((120, 160 + 80 * i), text, font=font, fill=0)
    draw.rectangle((100, 120, 1140, 700), outline=0, width=6)
    out = io.BytesIO()
    img.save(out, "PDF", resolution=150.0)
    return out.getvalue()


def demo_message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "demo@localhost"
    msg["To"] = to
    msg["Subject"] = "mailfax demo"
    msg.set_content("A fax sent by `mailfax demo`.\n")
    msg.add_attachment(demo_pdf(), maintype="application", subtype="pdf", filename="demo.pdf")
    return msg


def fax_messages(maildir: Path) -> list[Path]:
    """Delivered received-fax emails (reports to the sender land there too: skipped)."""
    new = maildir / "new"
    if not new.is_dir():
        return []
    out = []
    for p in sorted(new.iterdir()):
        head = p.read_bytes().split(b"\n\n", 1)[0]
        if b"\nSubject: Fax from" in b"\n" + head:
            out.append(p)
    return out


def demo_config(data_dir: Path):
    from mailfax.config import StorageConfig, load_config

    config = load_config(None)
    storage = StorageConfig(data_dir, data_dir / "spool", data_dir / "queue.sqlite")
    return dataclasses.replace(config, storage=storage, smtp=dataclasses.replace(config.smtp, port=0))


async def round_trip(data_dir: Path, timeout: float, say=print) -> Path | None:
    from mailfax.app import start_gateway
    from mailfax.rules import load_rules
    from mailfax.store import Store

    config = demo_config(data_dir)
    rules = load_rules(None, config)
    store = Store.open(config.storage)
    gw = await start_gateway(config, rules, store, poll=0.2)
    try:
        to = f"{NUMBER}@{config.fax_domains[0]}"
        say(f"gateway up: SMTP 127.0.0.1:{gw.smtp_port}, loopback line 127.0.0.1:{gw.loopline.trunk.port}")
        msg = demo_message(to)

        def submit() -> None:
            with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=30) as s:
                s.send_message(msg, from_addr="demo@localhost", to_addrs=[to])

        await asyncio.to_thread(submit)
        say(f"mailed demo.pdf to {to}; faxing over IAX2 (this takes about half a minute of line time)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = fax_messages(gw.maildir)
            if found:
                return found[0]
            await asyncio.sleep(0.25)
        return None
    finally:
        await gw.stop()
        store.close() if hasattr(store, "close") else None


def run(args) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="mailfax-demo-"))
    print(f"mailfax demo: data directory {data_dir}", flush=True)
    path = asyncio.run(round_trip(data_dir, args.timeout, say=lambda s: print(f"mailfax demo: {s}", flush=True)))
    if path is None:
        print(f"mailfax demo: no fax arrived within {args.timeout:g} s (see {data_dir})", file=sys.stderr)
        return 1
    print(path, flush=True)
    return 0
