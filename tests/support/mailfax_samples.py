"""Sample documents and messages for the mailfax queue/SMTP tests, generated (no fixtures on disk).

Every document type a sender may attach: PDF, PostScript, TIFF, PNG, JPEG, GIF, plain
text.  Deterministic: images come from a seeded generator.
"""

from __future__ import annotations

import io
from email.message import EmailMessage

import img2pdf
import numpy as np
from PIL import Image, ImageDraw


def _image(seed: int = 1, size=(400, 300)) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = Image.new("L", size, 255)
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.integers(0, size[0] - 40), rng.integers(0, size[1] - 20)
        d.rectangle([int(x), int(y), int(x) + 40, int(y) + 20], fill=0)
    d.text((10, 10), f"sample {seed}", fill=0)
    return im


def png(seed: int = 1) -> bytes:
    buf = io.BytesIO()
    _image(seed).save(buf, "PNG")
    return buf.getvalue()


def jpeg(seed: int = 2) -> bytes:
    buf = io.BytesIO()
    _image(seed).convert("RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def gif(seed: int = 3) -> bytes:
    buf = io.BytesIO()
    _image(seed).save(buf, "GIF")
    return buf.getvalue()


def tiff(seed: int = 4, pages: int = 2) -> bytes:
    """A fax-shaped G4 TIFF: 1728 pixels wide at 204x196 dpi."""
    ims = [_image(seed + i, size=(1728, 400)).convert("1") for i in range(pages)]
    buf = io.BytesIO()
    ims[0].save(buf, "TIFF", compression="group4", save_all=True, append_images=ims[1:], dpi=(204, 196))
    return buf.getvalue()


def pdf(seed: int = 5, noise_kb: int = 0) -> bytes:
    """A one-page PDF; with ``noise_kb`` an incompressible image makes it about that large."""
    if noise_kb:
        rng = np.random.default_rng(seed)
        side = int((noise_kb * 1024) ** 0.5) + 1
        im = Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8), "L")
        buf = io.BytesIO()
        im.save(buf, "PNG")
        return img2pdf.convert(buf.getvalue(), layout_fun=img2pdf.get_layout_fun((img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))))
    return img2pdf.convert(png(seed), layout_fun=img2pdf.get_layout_fun((img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))))


def postscript() -> bytes:
    return (b"%!PS-Adobe-3.0\n%%Pages: 1\n%%EndComments\n/Helvetica findfont 24 scalefont setfont\n"
            b"72 700 moveto (PostScript sample) show\n100 100 200 200 rectfill\nshowpage\n%%EOF\n")


def text() -> bytes:
    return "Plain text document.\nStraße, 10 €.\n".encode()


DOCUMENTS = {
    "doc.pdf": ("application", "pdf", pdf),
    "doc.ps": ("application", "postscript", postscript),
    "doc.tif": ("image", "tiff", tiff),
    "doc.png": ("image", "png", png),
    "doc.jpg": ("image", "jpeg", jpeg),
    "doc.gif": ("image", "gif", gif),
    "doc.txt": ("text", "plain", text),
}


def message(*attachments: str, body: str = "Please fax this.\n", sender: str = "alice@example.com",
            to: str = "+4930123456@fax.test", subject: str = "Test fax", message_id: str | None = "<m1@example.com>",
            extra: dict[str, bytes] | None = None) -> EmailMessage:
    """A message with ``attachments`` (names from DOCUMENTS) plus ``extra`` {name: pdf bytes}."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    if message_id:
        m["Message-ID"] = message_id
    m.set_content(body)
    for name in attachments:
        main, sub, make = DOCUMENTS[name]
        m.add_attachment(make(), maintype=main, subtype=sub, filename=name)
    for name, data in (extra or {}).items():
        m.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return m


def wire(msg: EmailMessage) -> bytes:
    """The message as sent over SMTP (CRLF line ends; smtplib does not convert bytes)."""
    import email.policy

    return msg.as_bytes(policy=email.policy.SMTP)
