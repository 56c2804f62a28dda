"""dsp.t4 against spandsp's T.4 engine, the reference fax implementation, on line bit streams.

- spandsp's receiver (t4_rx) decodes the streams our encoder sends (MH, MR with K=2/4,
  with and without minimum row padding) to our pixels, with no bad rows, and finds RTC.
- On corrupted MH streams it counts the same bad rows as our StreamDecoder and repairs
  them the same way (repeat the previous row); on MR the rows outside the damaged K group
  agree.
- Our StreamDecoder decodes what spandsp's transmitter (t4_tx) sends, and decode_page the
  MH/MR/MMR TIFF-F files its receiver writes.
- Slow: scattered random bit errors (both keep every row and find RTC; we flag at least as
  many bad rows) and a full A4 text page both ways.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.t4 import Page, StreamDecoder, bytes_to_bits, decode_page, encode_page, min_row_bits
from tests.dsp.t4.helpers import synthetic, wrap
from tests.support.spandsp_t4 import spandsp_receive, spandsp_transmit
from tests.dsp.t4.test_stream import _corrupt_rows

pytestmark = pytest.mark.spandsp


def _page(width: int = 1728, height: int = 96) -> Page:
    return synthetic(width, height, seed=11)


@pytest.mark.parametrize("coding,k", [("mh", 2), ("mr", 2), ("mr", 4)])
@pytest.mark.parametrize("min_bits", [0, min_row_bits(9600, 20)])
def test_spandsp_receives_our_stream(tmp_path, coding, k, min_bits):
    page = _page()
    bits = bytes_to_bits(encode_page(page, coding, k=k, min_row_bits=min_bits), lsb_first=False)
    got = spandsp_receive(bits, page.width, coding, tmp_path / "rx.tif")
    assert got.bad_rows == 0 and got.page_end_at is not None
    assert np.array_equal(got.rows, page.rows)


@pytest.mark.parametrize("bad", [[5], [1, 7, 8], [60, 95]])
def test_mh_bad_rows_match_spandsp(tmp_path, bad):
    page = _page()
    bits = bytes_to_bits(encode_page(page, "mh", min_row_bits=200), lsb_first=False)
    bits = _corrupt_rows(bits, bad, "mh")
    theirs = spandsp_receive(bits, page.width, "mh", tmp_path / "rx.tif")
    ours = StreamDecoder(page.width, "mh")
    ours.feed(bits)
    assert ours.bad_rows == theirs.bad_rows == len(bad)
    assert ours.longest_bad_run == theirs.longest_bad_row_run
    assert np.array_equal(ours.page().rows, theirs.rows)


def test_mr_damage_stays_in_its_k_group_in_both(tmp_path):
    page = _page()
    k = 4
    bits = _corrupt_rows(bytes_to_bits(encode_page(page, "mr", k=k, min_row_bits=200), False), [41], "mr")
    theirs = spandsp_receive(bits, page.width, "mr", tmp_path / "rx.tif")
    ours = StreamDecoder(page.width, "mr")
    ours.feed(bits)
    mine = ours.page().rows
    assert 1 <= ours.bad_rows <= k and 1 <= theirs.bad_rows <= k
    keep = np.r_[0:40, 44 : page.height]  # rows 40-43 form the damaged K group
    assert np.array_equal(mine[keep], page.rows[keep]) and np.array_equal(theirs.rows[keep], page.rows[keep])
    assert np.array_equal(mine[41], mine[40]) and np.array_equal(theirs.rows[41], theirs.rows[40])


@pytest.mark.parametrize("coding", ["mh", "mr"])
@pytest.mark.parametrize("width", [1728, 2432])
@pytest.mark.parametrize("min_bits", [0, min_row_bits(4800, 40)])
def test_we_receive_spandsp_stream(tmp_path, coding, width, min_bits):
    page = _page(width, 80)
    src = tmp_path / "tx.tif"
    src.write_bytes(wrap([(encode_page(page, "mmr", rtc=False), width, page.height)], "mmr"))
    bits = spandsp_transmit(src, coding, min_bits)
    dec = StreamDecoder(width, coding)
    for i in range(0, bits.size, 96):  # 10 ms of 9600 bit/s per call
        dec.feed(bits[i : i + 96])
    assert dec.finished and dec.bad_rows == 0 and dec.rows_so_far == page.height
    assert dec.page().same_pixels(page)


@pytest.mark.parametrize("store_as", ["mh", "mr", "mmr"])
def test_we_decode_the_tiffs_spandsp_writes(tmp_path, store_as):
    """spandsp re-encodes what it receives into TIFF-F (FillOrder 2): we decode those strips."""
    from dsp.t4 import reverse_bits_in_bytes
    from tests.dsp.t4.helpers import coding_of, pillow_pages
    from tests.dsp.t4.tiffio import read_tiff

    page = _page()
    bits = bytes_to_bits(encode_page(page, "mh"), lsb_first=False)
    spandsp_receive(bits, page.width, "mh", tmp_path / "rx.tif", store_as=store_as)
    blob = (tmp_path / "rx.tif").read_bytes()
    (tp,) = read_tiff(blob)
    assert coding_of(tp.compression, tp.t4_options) == store_as and tp.fill_order == 2
    res = decode_page(reverse_bits_in_bytes(tp.data), tp.width, store_as, height=tp.height)
    assert res.bad_rows == 0 and res.page.same_pixels(page)
    assert np.array_equal(pillow_pages(blob)[0], page.rows)


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["mh", "mr"])
@pytest.mark.parametrize("seed", range(8))
def test_random_bit_errors_against_spandsp(tmp_path, coding, seed):
    """Scattered bit errors: both find the page end and keep every row; we flag at least as
    many bad rows (we also reject rows that add up to the width but leave codes before EOL)."""
    page = _page(1728, 200)
    bits = bytes_to_bits(encode_page(page, coding, k=4, min_row_bits=200), lsb_first=False)
    rng = np.random.default_rng(seed)
    bits[rng.choice(bits.size - 200, 8, replace=False)] ^= 1
    theirs = spandsp_receive(bits, page.width, coding, tmp_path / "rx.tif")
    ours = StreamDecoder(page.width, coding)
    ours.feed(bits)
    assert ours.finished and theirs.page_end_at is not None
    assert ours.rows_so_far == theirs.rows.shape[0]
    assert ours.bad_rows >= theirs.bad_rows


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["mh", "mr"])
def test_full_a4_text_page_both_ways(tmp_path, coding):
    """A whole A4 fine page of gs-rendered text, spandsp -> us and us -> spandsp, at 9600 bit/s, 10 ms."""
    from tests.dsp.t4.helpers import pillow_pages, render

    tif = render(tmp_path, "tiffg4", (1728, 2292), (204, 196), "page.tif")
    page = Page(pillow_pages(tif.read_bytes())[0])
    min_bits = min_row_bits(9600, 10)
    dec = StreamDecoder(page.width, coding)
    bits = spandsp_transmit(tif, coding, min_bits)
    for i in range(0, bits.size, 192):  # 20 ms at 9600 bit/s
        dec.feed(bits[i : i + 192])
    assert dec.finished and dec.bad_rows == 0 and dec.page().same_pixels(page)
    ours = bytes_to_bits(encode_page(page, coding, k=2, min_row_bits=min_bits), lsb_first=False)
    got = spandsp_receive(ours, page.width, coding, tmp_path / "rx.tif")
    assert got.bad_rows == 0 and np.array_equal(got.rows, page.rows)
