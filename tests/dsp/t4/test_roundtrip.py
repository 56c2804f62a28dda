"""Round trips through our own encoder and decoder, the layout rules, and the bit helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsp.t4 import (
    SCAN_LINE_TIMES_MS, Page, bits_to_bytes, bytes_to_bits, decode_page, encode_page, min_row_bits,
    reverse_bits_in_bytes,
)
from dsp.t4.stream import eol_ends

CODINGS = [("mh", 2), ("mr", 2), ("mr", 4), ("mmr", 2)]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_pages(draw):
    width = draw(st.integers(1, 260))
    height = draw(st.integers(1, 12))
    density = draw(st.sampled_from([0.0, 0.02, 0.3, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return Page((rng.random((height, width)) < density).astype(np.uint8))


@st.composite
def document_pages(draw):
    """Mostly white pages with blocks of 'glyphs': rows that repeat with small shifts."""
    width = draw(st.sampled_from([64, 200, 1728, 2432, 4864]))
    height = draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = np.zeros((height, width), np.uint8)
    for _ in range(draw(st.integers(0, 12))):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        h, w = rng.integers(1, 8), rng.integers(1, 80)
        glyph = (rng.random(w) < 0.6).astype(np.uint8)
        for dy in range(h):
            if y0 + dy < height:
                seg = np.roll(glyph, int(rng.integers(-2, 3)))[: width - x0]
                rows[y0 + dy, x0 : x0 + seg.size] |= seg
    if draw(st.booleans()):
        rows[rng.integers(0, height), :] = 1  # a rule across the page: runs past 1728 and 2560
    return Page(rows)


pages = st.one_of(random_pages(), document_pages())


@SETTINGS
@given(page=pages, coding=st.sampled_from(CODINGS), rtc=st.booleans(), align=st.booleans(),
       min_bits=st.sampled_from([0, 96, 500]))
def test_round_trip(page, coding, rtc, align, min_bits):
    name, k = coding
    data = encode_page(page, name, k=k, rtc=rtc, align_eol=align, min_row_bits=min_bits)
    res = decode_page(data, page.width, name)
    assert res.page.same_pixels(page)
    assert res.bad_rows == 0
    assert res.complete == rtc
    with_height = decode_page(data, page.width, name, height=page.height)
    assert with_height.page.same_pixels(page) and with_height.complete


def _eol_layout(data: bytes) -> np.ndarray:
    return eol_ends(bytes_to_bits(data, lsb_first=False))


@pytest.mark.parametrize("coding,k", CODINGS[:3])
@pytest.mark.parametrize("rate,ms", [(2400, 5), (4800, 10), (9600, 20), (14400, 40), (7200, 0)])
def test_min_row_bits_pads_every_row(coding, k, rate, ms):
    page = Page(np.zeros((6, 1728), np.uint8))  # blank rows: the shortest rows there are
    need = min_row_bits(rate, ms)
    data = encode_page(page, coding, k=k, min_row_bits=need)
    ends = _eol_layout(data)
    assert len(ends) == page.height + 6  # one EOL per row, six of RTC
    row_bits = np.diff(ends)[: page.height]  # row data + fill + the following EOL (+ tag)
    assert row_bits.min() >= need
    if need > 100:
        assert row_bits.max() == need  # padding is exact, not generous
    assert decode_page(data, 1728, coding).page.same_pixels(page)


def test_scan_line_times():
    assert SCAN_LINE_TIMES_MS == (0, 5, 10, 20, 40)
    assert min_row_bits(9600, 10) == 96 and min_row_bits(14400, 20) == 288 and min_row_bits(2400, 0) == 0
    assert min_row_bits(7200, 5) == 36


@pytest.mark.parametrize("coding,k", CODINGS[:3])
def test_align_eol_puts_every_eol_end_on_an_octet_boundary(coding, k):
    rng = np.random.default_rng(5)
    page = Page((rng.random((9, 300)) < 0.2).astype(np.uint8))
    data = encode_page(page, coding, k=k, align_eol=True, rtc=False)
    ends = _eol_layout(data)
    assert len(ends) == 9 and np.all(ends % 8 == 7)


@pytest.mark.parametrize("coding,k", CODINGS[1:3])
def test_mr_tags_follow_k(coding, k):
    page = Page(np.zeros((9, 64), np.uint8))
    bits = bytes_to_bits(encode_page(page, coding, k=k, rtc=False), lsb_first=False)
    tags = bits[_eol_layout(bits_to_bytes(bits, False)) + 1]
    assert tags.tolist() == [1 if y % k == 0 else 0 for y in range(9)]


def test_rtc_and_eofb_shapes():
    page = Page(np.zeros((1, 1728), np.uint8))
    mh = bytes_to_bits(encode_page(page, "mh"), False)
    # EOL + white 1728 (make-up 010011011, terminating 00110101) + 6 x EOL, zero-padded.
    want = "000000000001" + "010011011" + "00110101" + "000000000001" * 6
    assert "".join(map(str, mh[: len(want)])) == want and not mh[len(want):].any()
    mmr = bytes_to_bits(encode_page(page, "mmr"), False)
    assert "".join(map(str, mmr[:25])) == "1" + "000000000001" * 2  # V0, EOFB


def test_bit_helpers():
    assert bytes_to_bits(b"\x01", lsb_first=True).tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert bytes_to_bits(b"\x01", lsb_first=False).tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    data = bytes(range(256))
    for lsb in (True, False):
        assert bits_to_bytes(bytes_to_bits(data, lsb), lsb) == data
    assert bits_to_bytes(np.array([1, 1, 0]), lsb_first=False) == b"\xc0"
    assert reverse_bits_in_bytes(b"\x01\x80") == b"\x80\x01"


@SETTINGS
@given(data=st.binary(max_size=400), coding=st.sampled_from(["mh", "mr", "mmr"]), height=st.none() | st.integers(1, 30))
def test_garbage_never_raises(data, coding, height):
    res = decode_page(data, 96, coding, height=height)
    assert res.page.width == 96
    if height is not None:
        assert res.page.height == height
    assert res.bad_rows >= 0


def test_truncated_page_is_repaired_to_height():
    rng = np.random.default_rng(3)
    page = Page((rng.random((20, 200)) < 0.1).astype(np.uint8))
    for coding in ("mh", "mr", "mmr"):
        data = encode_page(page, coding)
        res = decode_page(data[: len(data) // 2], 200, coding, height=20)
        assert res.page.height == 20 and res.bad_rows > 0 and not res.complete
        assert 1 <= res.longest_bad_run <= res.bad_rows


def test_mmr_error_ends_the_page_and_counts_one_bad_row():
    rows = np.zeros((10, 64), np.uint8)
    rows[:, 10:20] = 1
    data = bytearray(encode_page(Page(rows), "mmr"))
    data[1] = 0x00  # 0000000...: neither a mode code nor EOFB
    res = decode_page(bytes(data), 64, "mmr")
    assert not res.complete and res.bad_rows == 1 and res.page.height < 10
    assert np.array_equal(res.page.rows, rows[: res.page.height])


def test_misuse_raises():
    from dsp.t4 import StreamDecoder

    with pytest.raises(ValueError):
        decode_page(b"", 1728, "g4")
    with pytest.raises(ValueError):
        decode_page(b"", 0, "mh")
    with pytest.raises(ValueError):
        StreamDecoder(0, "mh")
    with pytest.raises(ValueError):
        encode_page(Page(np.zeros((3, 0), np.uint8)), "mh")
    with pytest.raises(ValueError):
        encode_page(Page(np.zeros((3, 8), np.uint8)), "mr", k=0)


def test_empty_page_encodes_to_just_the_end_marks():
    empty = Page(np.zeros((0, 1728), np.uint8))
    for coding in ("mh", "mr", "mmr"):
        res = decode_page(encode_page(empty, coding), 1728, coding)
        assert res.page.height == 0 and res.complete
