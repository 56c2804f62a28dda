"""Fitting pages onto a fax geometry: resolution changes per axis, line length, thin lines."""

from __future__ import annotations

import numpy as np

from dsp.t4 import Page
from mailfax.pagefit import fit_page
from mailfax.pagesize import geometry
from tests.mailfax.fixtures.docs import document_rows


def test_same_geometry_is_untouched():
    page = Page(document_rows(1), 204, 196)
    assert fit_page(page, geometry("a4", "fine")) is page


def test_standard_to_fine_and_back_is_exact():
    page = Page(document_rows(2), 204, 98)
    fine = fit_page(page, geometry("a4", "fine"))
    assert (fine.height, fine.y_res) == (2 * page.height, 196)
    assert np.array_equal(fine.rows[0::2], page.rows) and np.array_equal(fine.rows[1::2], page.rows)
    assert fit_page(fine, geometry("a4", "standard")).same_pixels(page)


def test_fine_to_standard_keeps_one_pixel_lines():
    rows = np.zeros((100, 1728), np.uint8)
    rows[51, :] = 1  # a hairline on an odd row
    out = fit_page(Page(rows, 204, 196), geometry("a4", "standard"))
    assert out.height == 50 and out.rows[25].all()


def test_300_dpi_a4_shrinks_to_the_204_dpi_line():
    rows = np.ones((300, 2592), np.uint8)
    out = fit_page(Page(rows, 300, 300), geometry("a4", "fine"))
    assert (out.width, out.x_res, out.y_res) == (1728, 204, 196)
    assert out.rows.all()  # the whole 219.5 mm width lands inside the 215 mm line
    assert abs(out.height - 300 * 196 / 300 * (1728 / 204) / (2592 / 300)) <= 1


def test_narrow_page_is_centred_on_a_b4_line():
    out = fit_page(Page(np.ones((10, 1728), np.uint8), 204, 196), geometry("b4", "fine"))
    assert out.width == 2048 and out.rows[:, 160:1888].all() and not out.rows[:, :160].any()
