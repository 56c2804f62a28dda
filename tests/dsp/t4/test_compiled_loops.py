"""The numba-compiled coder loops give exactly what the same source gives run as plain Python."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsp.t4.decode as compiled_decode
import dsp.t4.encode as compiled_encode
from dsp.t4 import Page
from dsp.t4._jit import plain_reference

plain_encode = plain_reference("dsp.t4.encode")
plain_decode = plain_reference("dsp.t4.decode")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_reference_copy_is_really_interpreted():
    assert hasattr(compiled_encode._encode_kernel, "py_func")  # a numba dispatcher
    assert not hasattr(plain_encode._encode_kernel, "py_func")  # a plain function
    assert not hasattr(plain_decode._decode_kernel, "py_func")


@st.composite
def small_pages(draw):
    width = draw(st.sampled_from([7, 64, 130, 2700]))  # 2700: runs past 2623 take 2560 make-ups
    height = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = (rng.random((height, width)) < draw(st.sampled_from([0.01, 0.2, 0.6]))).astype(np.uint8)
    if height > 1:
        rows[1] = np.roll(rows[0], 2)
    return Page(rows)


@SETTINGS
@given(page=small_pages(), coding=st.sampled_from(["mh", "mr", "mmr"]), k=st.sampled_from([2, 4]),
       align=st.booleans(), min_bits=st.sampled_from([0, 300]))
def test_encoders_agree(page, coding, k, align, min_bits):
    kw = dict(k=k, align_eol=align, min_row_bits=min_bits)
    assert compiled_encode.encode_page(page, coding, **kw) == plain_encode.encode_page(page, coding, **kw)


@SETTINGS
@given(page=small_pages(), coding=st.sampled_from(["mh", "mr", "mmr"]), flips=st.lists(st.integers(0, 4000), max_size=6),
       height=st.none() | st.integers(1, 8))
def test_decoders_agree_on_clean_and_damaged_data(page, coding, flips, height):
    data = bytearray(compiled_encode.encode_page(page, coding))
    for f in flips:
        if f // 8 < len(data):
            data[f // 8] ^= 0x80 >> (f % 8)
    a = compiled_decode.decode_page(bytes(data), page.width, coding, height=height)
    b = plain_decode.decode_page(bytes(data), page.width, coding, height=height)
    assert a.page.same_pixels(b.page) and (a.bad_rows, a.complete) == (b.bad_rows, b.complete)


def test_any_non_zero_pixel_is_black_in_both():
    rng = np.random.default_rng(4)
    rows = (rng.random((5, 2700)) < 0.3).astype(np.uint8)
    loud = Page(rows * np.uint8(255))
    for coding in ("mh", "mr", "mmr"):
        want = compiled_encode.encode_page(Page(rows), coding)
        assert compiled_encode.encode_page(loud, coding) == want == plain_encode.encode_page(loud, coding)


def test_views_of_larger_arrays_encode_like_copies():
    rng = np.random.default_rng(6)
    big = (rng.random((12, 3 * 1728)) < 0.2).astype(np.uint8)
    for view in (big[2:9, 1728:3456], big[:, ::3], big[1:, 5:1733]):
        for coding in ("mh", "mmr"):
            assert compiled_encode.encode_page(Page(view), coding) == compiled_encode.encode_page(
                Page(np.ascontiguousarray(view)), coding)
