"""Seeded test pages and the TIFF files spandsp reads and writes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dsp.t4.page import Page


def text_page(seed: int, height: int = 400, width: int = 1728, y_res: int = 196) -> Page:
    """A page that codes like text: lines of small black blocks, a frame, a diagonal."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((height, width), np.uint8)
    rows[5:8, 40:width - 40] = 1
    for y in range(20, height - 20, 24):
        x = 60
        while x < width - 120:
            w = int(rng.integers(6, 40))
            h = int(rng.integers(8, 16))
            if rng.random() < 0.8:
                rows[y:y + h, x:x + w] = 1
            x += w + int(rng.integers(4, 20))
    for i in range(min(height, width) // 2):
        rows[i, i * 2:i * 2 + 3] = 1
    return Page(rows, 204, y_res)


def write_tiff(path, pages: list[Page]) -> None:
    """A multi-page G4 TIFF with the pages' resolutions (what spandsp sends from)."""
    images = [Image.fromarray(((1 - p.rows) * 255).astype(np.uint8)).convert("1") for p in pages]
    images[0].save(path, compression="group4", dpi=(pages[0].x_res, pages[0].y_res), save_all=True,
                   append_images=images[1:])


def read_tiff(path) -> list[Page]:
    """Every page of a TIFF as a `Page` (black = 1)."""
    out = []
    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            rows = (np.array(im.convert("L")) < 128).astype(np.uint8)
            dpi = im.info.get("dpi", (204, 196))
            out.append(Page(rows, int(round(dpi[0])), int(round(dpi[1]))))
    return out
