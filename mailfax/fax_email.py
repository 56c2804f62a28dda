"""The received-fax email, and the alert to the fax master when a delivery fails for good.

What does it do?  `build_fax_email` turns a stored `ReceivedFax` into one email: the
subject from the rule's template ("Fax from <TSI or caller ID>, <n> pages"), a plain-text
body listing sender TSI, caller ID, called number, pages, resolution, page size, signal
rate, data format, ECM, duration, time received, the gateway's fax ID and the call's
session log (and audio recording, when one was kept: issue 8), an HTML
alternative showing a page-1 thumbnail inline (multipart/related, RFC 2387), and the fax as
PDF / TIFF-F / PostScript attachments named after the date and the sender
(``fax-2026-11-26-1403-from-4930123456.pdf``).  A partial reception says which pages
are missing and why.  `build_alert_email` tells the fax master which delivery failed and
why, with the fax attached as PDF so it is never lost.

How does it work?  Documents come from `mailfax.output` (G4 in PDF and PS; the TIFF is the
stored TIFF-F, i.e. the line's own bytes when the call side supplied them).  When the stored
TIFF-F is MMR, its strips go into the PDF as they are (`pdf_from_tiff_f`), as tiff2pdf does.  Messages use
`email.policy.SMTP` (CRLF line ends, as IMAP APPEND wants).  Times are UTC and come from
the fax (``started_at``) and the injected ``now`` (Date header), never from a clock.
"""

from __future__ import annotations

import email.policy
import email.utils
import html
import re
import time
from email.message import EmailMessage
from typing import Sequence

from mailfax import output
from mailfax.received import ReceivedFax

MIME = {"pdf": ("application", "pdf"), "tiff": ("image", "tiff"), "ps": ("application", "postscript")}
SUFFIX = {"pdf": "pdf", "tiff": "tif", "ps": "ps"}


def _utc(t: float, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return time.strftime(fmt, time.gmtime(t))


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def sender_token(fax: ReceivedFax) -> str:
    """The sender for file names: TSI or caller ID with only letters and digits kept."""
    token = re.sub(r"[^A-Za-z0-9]", "", fax.sender)[:32]
    return token or "unknown"


def attachment_name(fax: ReceivedFax, fmt: str) -> str:
    """``fax-YYYY-MM-DD-HHMM-from-<sender>.<suffix>`` (UTC)."""
    return f"fax-{_utc(fax.started_at, '%Y-%m-%d-%H%M')}-from-{sender_token(fax)}.{SUFFIX[fmt]}"


def subject_fields(fax: ReceivedFax) -> dict[str, object]:
    return {"sender": fax.sender, "tsi": fax.tsi.strip(), "caller_id": fax.caller_id, "caller_name": fax.caller_name,
            "called": fax.called, "pages": fax.pages_received, "fax_id": fax.fax_id,
            "date": _utc(fax.started_at, "%Y-%m-%d"), "time": _utc(fax.started_at, "%H:%M"),
            "subaddress": fax.subaddress}


def subject(fax: ReceivedFax, template: str) -> str:
    text = template.format(**subject_fields(fax))
    if not fax.complete:
        text += " (INCOMPLETE)"
    return " ".join(text.split())  # no line breaks from a TSI into the header


def missing_text(fax: ReceivedFax) -> str | None:
    """Plain words for a partial reception, or None when the fax is complete."""
    if fax.complete:
        return None
    why = fax.reason or fax.completion
    n = fax.pages_received
    if fax.pages_expected is not None and n < fax.pages_expected:
        first = n + 1
        gone = f"page {first}" if first == fax.pages_expected else f"pages {first} to {fax.pages_expected}"
        return f"INCOMPLETE: {n} of {fax.pages_expected} pages arrived; {gone} missing. The call ended: {why}."
    if n == 0:
        return f"INCOMPLETE: no page arrived. The call ended: {why}."
    return (f"INCOMPLETE: the call ended after page {n}: {why}. "
            f"Any pages the sender meant to send after page {n} are missing.")


def body_lines(fax: ReceivedFax) -> list[str]:
    pages = str(fax.pages_received) + (f" of {fax.pages_expected}" if fax.pages_expected is not None else "")
    rows = [
        ("Sender (TSI)", fax.tsi.strip() or "(none sent)"),
        ("Caller ID", (fax.caller_id or "(withheld)") + (f" ({fax.caller_name})" if fax.caller_name else "")),
        ("Called number", fax.called or "(unknown)"),
        ("Pages", pages),
        ("Resolution", fax.resolution),
        ("Page size", f"{fax.page_size} ({fax.page_width} pixels wide)"),
        ("Signal rate", f"{fax.bit_rate} bit/s" + (f" ({fax.modem})" if fax.modem else "") if fax.bit_rate else "unknown"),
        ("Data format", fax.coding.upper()),
        ("ECM", "yes" if fax.ecm else "no"),
        ("Duration", _duration(fax.duration)),
        ("Received", _utc(fax.started_at)),
        ("Fax ID", str(fax.fax_id) if fax.fax_id is not None else "-"),
    ]
    if fax.session_log:
        rows.append(("Session log", fax.session_log))
    if fax.recording:
        rows.append(("Recording", fax.recording))
    if fax.subaddress:
        rows.insert(3, ("Sub-address", fax.subaddress))
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{k + ':':<{width}} {v}" for k, v in rows]
    gap = missing_text(fax)
    return ([gap, ""] if gap else []) + lines


def _html(fax: ReceivedFax, cid: str) -> str:
    """The HTML alternative: the same facts as a table, and page 1 shown inline (cid: URL, RFC 2392)."""
    gap = missing_text(fax)
    rows = [f"<tr><td colspan=2><b>{html.escape(gap)}</b></td></tr>"] if gap else []
    for line in body_lines(fax)[2 if gap else 0:]:
        key, _, value = line.partition(":")
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(value.strip())}</td></tr>")
    return (f"<html><body><table>{''.join(rows)}</table>"
            f"<p><img src=\"cid:{cid[1:-1]}\" alt=\"page 1\" style=\"border:1px solid #888\"></p></body></html>\n")


def _new_message(*, to: str, from_address: str, subject_text: str, message_id: str, now: float) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = from_address
    msg["To"] = to
    msg["Subject"] = subject_text
    msg["Date"] = email.utils.formatdate(now, usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
    return msg


def pdf_from_tiff_f(data: bytes) -> bytes | None:
    """A PDF holding the TIFF-F's T.6 strips as they are (like libtiff's tiff2pdf: no decoding,
    no re-encoding), or None when a page is not single-strip MMR.  FillOrder 2 strips (ECM
    pages as they came off the line, least significant bit first) are bit-reversed, since
    PDF's CCITTFaxDecode reads most significant bit first (PDF 1.7 §7.4.6)."""
    from dsp.t4 import reverse_bits_in_bytes
    from mailfax import tiff
    from mailfax.pdfg4 import G4Page, pdf_from_g4

    try:
        images = tiff.read_tiff(data)
    except Exception:
        return None
    pages = []
    for im in images:
        if im.compression != tiff.COMP_T6 or im.fill_order not in (1, 2) or len(im.strips) != 1 or im.photometric != 0:
            return None
        x_res, y_res = tiff.fax_resolution(im.x_dpi, im.y_dpi)
        strip = im.strips[0] if im.fill_order == 1 else reverse_bits_in_bytes(im.strips[0])
        pages.append(G4Page(strip, im.width, im.height, x_res, y_res))
    return pdf_from_g4(pages) if pages else None


def _attach(msg: EmailMessage, fax: ReceivedFax, formats: Sequence[str], tiff_bytes: bytes | None) -> None:
    if not fax.pages:
        return
    for fmt in formats:
        if fmt == "tiff":
            data = tiff_bytes if tiff_bytes is not None else output.write_document(fax.pages, output.OutputFormat.TIFF)
        elif fmt == "pdf":
            data = (pdf_from_tiff_f(tiff_bytes) if tiff_bytes is not None else None) or output.to_pdf(fax.pages)
        else:
            data = output.to_postscript(fax.pages)
        main, sub = MIME[fmt]
        msg.add_attachment(data, maintype=main, subtype=sub, filename=attachment_name(fax, fmt))


def build_fax_email(fax: ReceivedFax, *, to: str, from_address: str, formats: Sequence[str] = ("pdf",),
                    subject_template: str = "Fax from {sender}, {pages} pages", message_id: str, now: float,
                    tiff_bytes: bytes | None = None) -> EmailMessage:
    """The email carrying a received fax (see the module docstring)."""
    msg = _new_message(to=to, from_address=from_address, subject_text=subject(fax, subject_template),
                       message_id=message_id, now=now)
    if fax.fax_id is not None:
        msg["X-Mailfax-Fax-ID"] = str(fax.fax_id)
    lines = body_lines(fax)
    msg.set_content("\n".join(lines) + "\n")
    if fax.pages:
        cid = email.utils.make_msgid(idstring="page1", domain=message_id.strip("<>").rpartition("@")[2] or "mailfax")
        msg.add_alternative(_html(fax, cid), subtype="html")
        msg.get_payload()[1].add_related(output.thumbnail_png(fax.pages[0]), "image", "png", cid=cid,
                                         filename="page1.png", disposition="inline")
    _attach(msg, fax, formats, tiff_bytes)
    return msg


def build_alert_email(fax: ReceivedFax, *, to: str, from_address: str, failed: str, error: str, message_id: str,
                      now: float) -> EmailMessage:
    """Tell the fax master that a received fax could not be delivered to ``failed``."""
    msg = _new_message(to=to, from_address=from_address, message_id=message_id, now=now,
                       subject_text=f"Undeliverable received fax {fax.fax_id} from {fax.sender} to {failed}")
    msg.set_content("\n".join([
        f"A received fax could not be delivered to {failed} and the gateway has given up on that target.",
        f"Reason: {error}", "",
        "The fax is attached. To try again after fixing the cause:",
        f"  mailfax redeliver {fax.fax_id}", "",
        *body_lines(fax)]) + "\n")
    _attach(msg, fax, ("pdf",), None)
    return msg
