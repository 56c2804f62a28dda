"""StreamDecoder: line bits in any slices, bad-row counting, resync at EOL, repair by repetition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsp.t4 import Page, StreamDecoder, bits_to_bytes, bytes_to_bits, encode_page
from dsp.t4.stream import eol_ends

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOISE = np.tile(np.array([1, 0, 1, 1, 0, 1, 0, 0], np.uint8), 12)  # no run of 11 zeros: no false EOL


def _page(seed: int, height: int = 24, width: int = 1728) -> Page:
    rng = np.random.default_rng(seed)
    rows = np.zeros((height, width), np.uint8)
    for y in range(height):
        if y % 3:
            rows[y] = rows[y - 1]
            rows[y, rng.integers(0, width, 20)] ^= 1
        else:
            rows[y] = rng.random(width) < 0.05
    return Page(rows)


def _line_bits(page: Page, coding: str, k: int = 4, min_bits: int = 200) -> np.ndarray:
    return bytes_to_bits(encode_page(page, coding, k=k, min_row_bits=min_bits), lsb_first=False)


def _feed(bits: np.ndarray, coding: str, cuts=(), width: int = 1728) -> StreamDecoder:
    dec = StreamDecoder(width, coding)
    edges = [0, *sorted(set(c for c in cuts if 0 < c < bits.size)), bits.size]
    for a, b in zip(edges, edges[1:]):
        dec.feed(bits[a:b])
    return dec


def _corrupt_rows(bits: np.ndarray, rows: list[int], coding: str) -> np.ndarray:
    """Overwrite the first 10 bits of each row's data with 0000000001 (never a valid code)."""
    bits = bits.copy()
    ends = eol_ends(bits)
    tag = 1 if coding == "mr" else 0
    for y in rows:
        start = ends[y] + 1 + tag
        bits[start : start + 10] = [0] * 9 + [1]
    return bits


@pytest.mark.parametrize("coding", ["mh", "mr", "mmr"])
@pytest.mark.parametrize("block", [1, 13, 288, 10**7])
def test_clean_stream_any_block_size(coding, block):
    page = _page(1)
    bits = _line_bits(page, coding, min_bits=0 if coding == "mmr" else 200)
    if coding != "mmr":
        bits = np.concatenate([NOISE, bits])  # junk before the first EOL is skipped
    dec = _feed(bits, coding, cuts=range(block, bits.size, block))
    assert dec.finished and dec.bad_rows == 0 and dec.rows_so_far == page.height
    assert dec.page().same_pixels(page)


@SETTINGS
@given(cuts=st.lists(st.integers(0, 20000), max_size=40), coding=st.sampled_from(["mh", "mr"]),
       bad=st.lists(st.integers(1, 23), max_size=4, unique=True))
def test_slicing_does_not_matter(cuts, coding, bad):
    page = _page(2)
    bits = _corrupt_rows(_line_bits(page, coding), bad, coding)
    whole = _feed(bits, coding)
    sliced = _feed(bits, coding, cuts)
    assert (sliced.rows_so_far, sliced.bad_rows, sliced.finished) == (whole.rows_so_far, whole.bad_rows, whole.finished)
    assert sliced.page().same_pixels(whole.page())


@pytest.mark.parametrize("bad", [[5], [1, 7, 8], [23], [0]])
def test_mh_bad_rows_counted_and_repaired(bad):
    page = _page(3)
    dec = _feed(_corrupt_rows(_line_bits(page, "mh"), bad, "mh"), "mh", cuts=range(0, 10**6, 288))
    assert dec.finished and dec.rows_so_far == page.height and dec.bad_rows == len(bad)
    assert dec.longest_bad_run == (2 if [7, 8] == bad[1:] else 1)
    got = dec.page().rows
    for y in range(page.height):
        if y in bad:  # repaired: a copy of the row before it as decoded (white above row 0)
            assert np.array_equal(got[y], got[y - 1] if y else np.zeros(page.width, np.uint8))
        else:
            assert np.array_equal(got[y], page.rows[y])


def test_mr_error_is_confined_to_its_k_group():
    page = _page(4)
    k = 4
    dec = _feed(_corrupt_rows(_line_bits(page, "mr", k=k), [9], "mr"), "mr")
    got = dec.page().rows
    assert dec.finished and dec.rows_so_far == page.height and 1 <= dec.bad_rows <= 3
    assert np.array_equal(got[9], got[8])
    assert np.array_equal(got[:9], page.rows[:9]) and np.array_equal(got[12:], page.rows[12:])


def test_feed_bytes_in_line_order():
    page = _page(5)
    line = bits_to_bytes(_line_bits(page, "mh"), lsb_first=True)  # as the modem delivers octets
    dec = StreamDecoder(page.width, "mh", x_res=204, y_res=98)
    for i in range(0, len(line), 36):
        dec.feed_bytes(line[i : i + 36], lsb_first=True)
    out = dec.page()
    assert dec.finished and out.same_pixels(page) and (out.x_res, out.y_res) == (204, 98)


def test_missing_rtc_leaves_page_unfinished_but_keeps_rows():
    page = _page(6)
    data = encode_page(page, "mr", rtc=False)
    dec = StreamDecoder(page.width, "mr")
    dec.feed_bytes(data, lsb_first=False)
    assert not dec.finished and dec.rows_so_far == page.height - 1  # the last row waits for its EOL
    assert dec.page().same_pixels(page)  # ... but page() includes it, as it decodes cleanly


def test_bits_after_rtc_are_ignored():
    page = _page(7)
    bits = np.concatenate([_line_bits(page, "mh"), NOISE, _line_bits(page, "mh")])
    dec = _feed(bits, "mh")
    assert dec.finished and dec.page().same_pixels(page)


def _rows_bits(page: Page, coding: str) -> tuple[np.ndarray, np.ndarray]:
    bits = _line_bits(page, coding)
    return bits, eol_ends(bits)


@pytest.mark.parametrize("coding", ["mh", "mr"])
def test_very_long_fill_is_harmless(coding):
    page = _page(8)
    bits, ends = _rows_bits(page, coding)
    at = ends[10] - 11  # the fill before row 10's closing EOL
    stretched = np.concatenate([bits[:at], np.zeros(300_000, np.uint8), bits[at:]])
    dec = _feed(stretched, coding, cuts=range(0, stretched.size, 4096))
    assert dec.finished and dec.bad_rows == 0 and dec.page().same_pixels(page)


def test_endless_garbage_row_counts_once_and_decoding_goes_on():
    page = _page(9)
    bits, ends = _rows_bits(page, "mh")
    at = ends[5] + 1  # inside row 5's data
    garbage = np.tile(NOISE, 2000)  # 192 kbit without an EOL
    damaged = np.concatenate([bits[:at], garbage, bits[at:]])
    dec = _feed(damaged, "mh", cuts=range(0, damaged.size, 288))
    got = dec.page().rows
    assert dec.finished and dec.bad_rows == 1 and dec.rows_so_far == page.height
    assert np.array_equal(got[5], got[4]) and np.array_equal(np.delete(got, 5, 0), np.delete(page.rows, 5, 0))


@pytest.mark.parametrize("coding", ["mh", "mr"])
def test_bit_error_in_fill_is_not_a_page_end(coding):
    """A 1 hit into a row's fill looks like an EOL right before the real one; RTC is more than that."""
    rows = _page(10).rows.copy()
    rows[8:12] = 0  # short rows, padded to min_row_bits with long fill
    page = Page(rows)
    bits, ends = _rows_bits(page, coding)
    ones = np.flatnonzero(bits)
    fill_start = ones[np.searchsorted(ones, ends) - 1] + 1  # the zero run before each EOL's 1
    row = int(np.argmax(ends - fill_start))  # the row with the most fill
    assert ends[row] - fill_start[row] > 40
    bits[(fill_start[row] + ends[row]) // 2] = 1  # >= 11 zeros on both sides: a false EOL
    dec = _feed(bits, coding, cuts=range(0, bits.size, 288))
    assert dec.finished and dec.rows_so_far == page.height and dec.bad_rows == 0
    assert dec.page().same_pixels(page)
