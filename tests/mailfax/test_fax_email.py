"""The received-fax email: subject, the facts in the body, partial receptions, the inline
page-1 thumbnail, attachment names, and attachments that decode (Ghostscript, libtiff) to
the received pages."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mailfax.fax_email import attachment_name, build_alert_email, build_fax_email, missing_text
from mailfax.received import ReceivedFax, tiff_of
from tests.support.received_faxes import attachments, gs_pages, parse, pillow_tiff_pages, real_pages, sample_fax

NOW = 1795700100.0


@pytest.fixture(scope="module")
def pages():
    return real_pages(2)


def build(fax, **kw):
    args = dict(to="bob@example.com", from_address="fax@gw.example.com", message_id="<m1@gw.example.com>", now=NOW)
    args.update(kw)
    return parse(build_fax_email(fax, **args).as_bytes())


def test_subject_body_and_headers(pages):
    fax = sample_fax(pages, fax_id=17)
    msg = build(fax)
    assert msg["Subject"] == "Fax from +49 89 555 123, 2 pages"
    assert msg["Message-ID"] == "<m1@gw.example.com>" and msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_body(("plain",)).get_content()
    for fact in ("Sender (TSI):  +49 89 555 123", "Caller ID:     +4989555123 (ACME)", "Called number: +4930123450",
                 "Pages:         2 of 2", "Resolution:    fine", "Page size:     A4 (1728 pixels wide)",
                 "Signal rate:   14400 bit/s (V.17)", "Data format:   MMR", "ECM:           yes",
                 "Duration:      42 s", "Received:      2026-11-26 13:33:20 UTC", "Fax ID:        17"):
        assert fact in body, fact
    assert "INCOMPLETE" not in body


def test_subject_template_and_caller_id_when_no_tsi(pages):
    fax = sample_fax(pages, tsi="  ", fax_id=3)
    msg = build(fax, subject_template="[{fax_id}] {caller_name} {caller_id} -> {called} on {date} {time}")
    assert msg["Subject"] == "[3] ACME +4989555123 -> +4930123450 on 2026-11-26 13:33"
    assert build(fax)["Subject"] == "Fax from +4989555123, 2 pages"


def test_crlf_line_ends_for_imap(pages):
    raw = build_fax_email(sample_fax(pages), to="a@b.c", from_address="f@g.h", message_id="<x@y>", now=NOW).as_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_thumbnail_is_inline_in_html(pages):
    msg = build(sample_fax(pages))
    html = msg.get_body(("html",))
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert related
    (png,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert png.get_content_disposition() == "inline"
    assert f"cid:{png['Content-ID'][1:-1]}" in html.get_content()
    im = Image.open(io.BytesIO(png.get_payload(decode=True)))
    assert im.width == 256 and np.asarray(im.convert("L")).min() < 128  # there is ink on it


def test_attachment_names_carry_date_and_sender(pages):
    fax = sample_fax(pages)
    assert attachment_name(fax, "pdf") == "fax-2026-11-26-1333-from-4989555123.pdf"
    assert attachment_name(sample_fax(pages, tsi="", caller_id=""), "tiff") == "fax-2026-11-26-1333-from-unknown.tif"
    names = list(attachments(build(fax, formats=("pdf", "tiff", "ps"))))
    assert names == ["fax-2026-11-26-1333-from-4989555123.pdf", "fax-2026-11-26-1333-from-4989555123.tif",
                     "fax-2026-11-26-1333-from-4989555123.ps"]


def test_attachments_decode_to_the_received_pages(pages):
    fax = sample_fax(pages)
    stored_tiff = tiff_of(fax)
    att = attachments(build(fax, formats=("pdf", "tiff"), tiff_bytes=stored_tiff))
    pdf, tif = att.values()
    assert tif == stored_tiff  # the stored TIFF-F as it is
    for got, page in zip(gs_pages(pdf, 204, 196), pages, strict=True):
        assert np.array_equal(got, page.rows)
    for got, page in zip(pillow_tiff_pages(tif), pages, strict=True):
        assert np.array_equal(got, page.rows)


def test_partial_reception_says_what_is_missing_and_why(pages):
    fax = sample_fax(pages[:1], pages_expected=4, completion="NO_CARRIER", reason="the far end stopped sending")
    assert missing_text(fax) == ("INCOMPLETE: 1 of 4 pages arrived; pages 2 to 4 missing. "
                                 "The call ended: the far end stopped sending.")
    msg = build(fax)
    assert msg["Subject"].endswith("(INCOMPLETE)")
    assert msg.get_body(("plain",)).get_content().startswith("INCOMPLETE: 1 of 4 pages arrived")
    unknown_total = sample_fax(pages, pages_expected=None, completion="T2_EXPIRED", reason="no command within T2")
    assert "ended after page 2" in missing_text(unknown_total)
    nothing = ReceivedFax(completion="T1_EXPIRED", reason="no identification within T1")
    assert missing_text(nothing) == "INCOMPLETE: no page arrived. The call ended: no identification within T1."
    assert attachments(build(nothing)) == {}


def test_alert_carries_the_reason_and_the_fax(pages):
    fax = sample_fax(pages, fax_id=9)
    msg = parse(build_alert_email(fax, to="fm@example.com", from_address="gw@example.com", failed="bob@example.com",
                                  error="550 5.1.1 no such user", message_id="<a@b>", now=NOW).as_bytes())
    assert msg["Subject"] == "Undeliverable received fax 9 from +49 89 555 123 to bob@example.com"
    body = msg.get_body(("plain",)).get_content()
    assert "550 5.1.1 no such user" in body and "mailfax redeliver 9" in body
    assert list(attachments(msg)) == ["fax-2026-11-26-1333-from-4989555123.pdf"]


def test_pdf_from_mmr_tiff_passes_the_strips_through(pages):
    from mailfax import tiff
    from mailfax.fax_email import pdf_from_tiff_f

    stored = tiff_of(sample_fax(pages))
    pdf = pdf_from_tiff_f(stored)
    strips = [im.strips[0] for im in tiff.read_tiff(stored)]
    assert all(f"/Length {len(s)}".encode() in pdf and s in pdf for s in strips)  # stored G4 data as is
    for got, page in zip(gs_pages(pdf, 204, 196), pages, strict=True):
        assert np.array_equal(got, page.rows)


def test_pdf_from_lsb_first_ecm_mmr_passes_the_strips_through(pages):
    """ECM MMR pages are stored as they came off the line (FillOrder 2): the PDF still
    carries their G4 data without re-encoding, only bit-reversed, and shows the same pixels."""
    from dsp.t4 import encode_page, reverse_bits_in_bytes
    from mailfax import tiff
    from mailfax.fax_email import pdf_from_tiff_f
    from mailfax.received import CodedLinePage

    coded = tuple(CodedLinePage(reverse_bits_in_bytes(encode_page(p, "mmr")), p.width, p.height, "mmr",
                                lsb_first=True) for p in pages)
    stored = tiff_of(sample_fax(pages=(), coded=coded))
    assert {im.fill_order for im in tiff.read_tiff(stored)} == {2}
    pdf = pdf_from_tiff_f(stored)
    assert pdf is not None
    for c in coded:
        assert reverse_bits_in_bytes(c.data) in pdf
    for got, page in zip(gs_pages(pdf, 204, 196), pages, strict=True):
        assert np.array_equal(got, page.rows)


def test_pdf_from_mh_line_bytes_falls_back_to_the_pages(pages):
    from dsp.t4 import encode_page
    from mailfax.fax_email import pdf_from_tiff_f
    from mailfax.received import CodedLinePage

    coded = tuple(CodedLinePage(encode_page(p, "mh"), p.width, p.height, "mh") for p in pages)
    stored = tiff_of(sample_fax(pages=(), coded=coded))
    assert pdf_from_tiff_f(stored) is None
    pdf = attachments(build(sample_fax(pages, coded=coded), tiff_bytes=stored))
    (data,) = pdf.values()
    for got, page in zip(gs_pages(data, 204, 196), pages, strict=True):
        assert np.array_equal(got, page.rows)
