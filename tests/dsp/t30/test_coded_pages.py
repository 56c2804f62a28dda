"""A received page keeps its coded data as it came off the line (issue 7), and that data,
wrapped as TIFF-F by the store without re-encoding, decodes in libtiff (through Pillow)
to the pixels our decoder produced.

Our sender and our receiver over the perfect-modem link: for ECM the stored bytes are the
sender's FCD payloads joined; for non-ECM the stored bits are a slice of what the
receiver was fed, from the first EOL through RTC.  A non-ECM page hit by bit errors is
stored as received, with BadFaxLines / ConsecutiveBadFaxLines.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dsp.t30.dis import Capabilities, Coding, Modem
from dsp.t30.events import PageReceived, SendFrames, SendImage
from dsp.t30.fcf import FCF, Frame
from dsp.t30.dis import Dcs
from dsp.t30.image import encode_line_bits, line_image, LineReceiver
from dsp.t30.session import SessionConfig, T30Session
from dsp.t4.bits import bits_to_bytes, bytes_to_bits
from mailfax.received import CodedLinePage, ReceivedFax, tiff_of
from tests.dsp.t30.link import Link, OurSide
from tests.dsp.t30.pages import text_page

STRIP_OFFSETS, STRIP_BYTE_COUNTS = 273, 279
BAD_FAX_LINES, CLEAN_FAX_DATA, CONSECUTIVE_BAD_FAX_LINES = 326, 327, 328


class Recorder:
    """A bit fault that records what the receiver hears, optionally flipping bits of the
    first image at the given offsets (counted from the image's first 1 bit)."""

    def __init__(self, flips: tuple[int, ...] = ()) -> None:
        self.heard: list[np.ndarray] = []
        self.flips = flips
        self._pos: int | None = None  # bits of the first image seen so far
        self._images = 0

    def __call__(self, direction: str, chunk: np.ndarray) -> np.ndarray:
        chunk = np.array(chunk, np.uint8)
        if direction == "tx->rx" and self.flips and self._images <= 1:
            if self._pos is None and chunk.any():  # TCF is all zeros; the image has EOLs
                self._pos, self._images = 0, 1
            if self._pos is not None:
                for f in self.flips:
                    if self._pos <= f < self._pos + chunk.size:
                        chunk[f - self._pos] ^= 1
                self._pos += chunk.size
        if direction == "tx->rx":
            self.heard.append(chunk)
        return chunk


def _call(coding: Coding, ecm: bool, fault: Recorder, pages=None):
    pages = pages or (text_page(7, 240),)
    caps = Capabilities(ecm=ecm, codings=frozenset({Coding.MH, coding}))
    tx = OurSide(T30Session(SessionConfig(calling=True, ident="TX", pages=pages, capabilities=caps)), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=False, ident="RX")), "rx")
    Link(tx, rx, bit_fault=fault).run(max_seconds=600)
    return tx, rx, [e for e in rx.events if isinstance(e, PageReceived)]


def _stored(ev: PageReceived) -> tuple[Image.Image, bytes]:
    """The TIFF-F the store writes for this page, opened with Pillow, and its strip bytes."""
    c = ev.coded
    fax = ReceivedFax(pages=(ev.page,), coded=(CodedLinePage(
        c.data, c.width, c.height, c.coding, c.x_res, c.y_res, lsb_first=c.lsb_first,
        bad_rows=c.bad_rows, consecutive_bad_rows=c.consecutive_bad_rows),))
    data = tiff_of(fax)
    im = Image.open(io.BytesIO(data))
    (offset,), (count,) = _tuple(im.tag_v2[STRIP_OFFSETS]), _tuple(im.tag_v2[STRIP_BYTE_COUNTS])
    return im, data[offset:offset + count]


def _tuple(v) -> tuple:
    return v if isinstance(v, tuple) else (v,)


def _pixels(im: Image.Image) -> np.ndarray:
    return (np.asarray(im.convert("L")) < 128).astype(np.uint8)  # 1 = black, as dsp.t4


def _line_bits(data: bytes) -> np.ndarray:
    """Stored octets back to line bits, without the zero padding of the last octet
    (the page ends in a 1: RTC's last EOL, or its MR tag bit)."""
    bits = bytes_to_bits(data, lsb_first=True)
    ones = np.flatnonzero(bits)
    return bits[: ones[-1] + 1]


def _contains(haystack: np.ndarray, needle: np.ndarray) -> bool:
    return haystack.tobytes().find(needle.tobytes()) >= 0


RATE = next(r for r in Capabilities().rates() if r.bit_rate == 9600)
CASES = [(True, Coding.MMR), (True, Coding.MH), (True, Coding.MR), (False, Coding.MH), (False, Coding.MR)]


@pytest.mark.parametrize("ecm,coding", CASES, ids=[f"{'ecm' if e else 'no-ecm'}-{c.value}" for e, c in CASES])
def test_stored_strip_is_the_line_data_and_libtiff_reads_the_same_pixels(ecm, coding):
    fault = Recorder()
    tx, rx, got = _call(coding, ecm, fault)
    assert len(got) == 1 and got[0].coded is not None
    ev, c = got[0], got[0].coded
    assert (c.coding, c.ecm, c.width, c.height) == (coding.value, ecm, 1728, ev.page.height)
    assert c.bad_rows == 0 and c.lsb_first
    im, strip = _stored(ev)
    assert strip == c.data  # wrapped, not re-encoded
    if ecm:
        fcd = [Frame.parse(f) for r in tx.requests if isinstance(r, SendFrames) and r.modem is not Modem.V21
               for f in r.frames]
        payload = b"".join(f.info[1:] for f in fcd if f is not None and f.fcf is FCF.FCD)
        assert c.data == payload
    else:
        bits = _line_bits(c.data)
        assert _contains(np.concatenate(fault.heard), bits)
        assert bits[:12].tolist() == [0] * 11 + [1]  # starts at the first EOL
        # and it is what the sender coded (its own image bits), RTC included
        sent = np.concatenate([r.bits for r in tx.requests if isinstance(r, SendImage)])
        assert _contains(sent, bits) and bits.size >= _line_bits(bits_to_bytes(sent, True)).size - 32
    assert im.size == (1728, ev.page.height)
    assert np.array_equal(_pixels(im), ev.page.rows)
    assert im.tag_v2[CLEAN_FAX_DATA] == 0 and im.tag_v2[BAD_FAX_LINES] == 0


def test_non_ecm_page_with_bit_errors_is_stored_as_received_with_bad_line_tags():
    fault = Recorder(flips=(3000, 3001, 9000, 20000))
    tx, rx, got = _call(Coding.MR, False, fault, pages=(text_page(9, 400),))
    assert got, "the page was not accepted"
    ev, c = got[0], got[0].coded
    assert c.bad_rows > 0 and c.consecutive_bad_rows >= 1
    assert c.bad_rows == ev.stats.bad_rows
    assert _contains(np.concatenate(fault.heard), _line_bits(c.data))  # as it came, errors and all
    im, strip = _stored(ev)
    assert strip == c.data
    assert im.tag_v2[BAD_FAX_LINES] == c.bad_rows
    assert im.tag_v2[CONSECUTIVE_BAD_FAX_LINES] == c.consecutive_bad_rows
    assert im.tag_v2[CLEAN_FAX_DATA] == 2  # "unclean": bad lines present, not regenerated
    px = _pixels(im)  # libtiff reads it, repairing in its own way
    assert px.shape == ev.page.rows.shape
    same = np.mean(np.all(px == ev.page.rows, axis=1))
    assert same > 0.9, same


def test_line_receiver_keeps_the_bits_from_the_first_eol_through_rtc():
    rng = np.random.default_rng(3)
    page = text_page(4, 120)
    for coding in (Coding.MH, Coding.MR):
        dcs = Dcs(RATE, coding=coding, min_scan_ms=10)
        sent = encode_line_bits(page, dcs)
        noise = (rng.random(500) < 0.5).astype(np.uint8)
        noise[::8] = 1  # training leftovers: never 11 zeros in a row
        noise = np.concatenate([noise, np.zeros(30, np.uint8)])  # then fill before the first EOL
        after = (rng.random(700) < 0.5).astype(np.uint8)
        rx = LineReceiver(dcs)
        stream = np.concatenate([noise, sent, after])
        for part in np.array_split(stream, 37):  # any slicing
            if not rx.complete:
                rx.feed(part)
        res = rx.result()
        assert res.page.same_pixels(page) and res.bad_rows == 0
        first = int(np.flatnonzero(sent)[0]) - 11
        assert np.array_equal(_line_bits(res.data), _line_bits(bits_to_bytes(sent[first:], True)))


def test_line_image_cuts_what_follows_rtc():
    eol = [0] * 11 + [1]
    for coding, tag in (("mh", []), ("mr", [1])):
        row = [0, 0, 1, 1, 0, 1, 0, 1]  # any bits with a 1
        page = (eol + tag + row) * 3 + (eol + tag) * 6
        trailing = [1, 0, 1, 1, 0, 0, 1] + [0] * 20  # noise after RTC
        got = line_image(np.array(page + trailing, np.uint8), coding)
        assert got.tolist() == page
        # without RTC (carrier lost): the fill after the last 1 goes
        cut = (eol + tag + row) * 3
        assert line_image(np.array(cut + [0] * 40, np.uint8), coding).tolist() == cut
        # one RTC EOL lost to a bit error: five EOLs still end the page
        short = (eol + tag + row) * 2 + (eol + tag) * 5
        assert line_image(np.array(short + trailing, np.uint8), coding).tolist() == short
