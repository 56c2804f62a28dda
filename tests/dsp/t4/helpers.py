"""Test pages and reference decoders for the T.4 codec tests.

Pages come from Ghostscript rendering a small PostScript document written here (text in
several fonts and sizes, rules, a filled shape and a halftoned grey box, which gives
many short runs) and from synthetic patterns.  Pillow (libtiff inside) is the reference
decoder.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsp.t4 import Page, decode_page
from tests.dsp.t4.tiffio import read_tiff, write_tiff

#: Text, rules, a disc and a halftoned box; two pages.  Coordinates in points.
DOCUMENT_PS = b"""%!PS
/Times-Roman findfont 11 scalefont setfont
1 1 40 { /i exch def 40 800 i 14 mul sub moveto
  (Line ) show i 3 string cvs show
  ( - The quick brown fox jumps over the lazy dog. 0123456789 !@#$%^&*) show } for
/Helvetica-Bold findfont 28 scalefont setfont
40 200 moveto (MAILFAX T.4 / T.6) show
/Courier findfont 7 scalefont setfont
40 180 moveto (small print: fax-to-email gateway, every code length exercised) show
0 1 60 { 4 mul 300 add 60 moveto 0 100 rlineto stroke } for
newpath 150 100 40 0 360 arc fill
0.5 setgray 420 20 120 120 rectfill 0 setgray
2 setlinewidth 20 20 555 800 rectstroke
showpage
/Helvetica findfont 9 scalefont setfont
40 760 moveto (Second page, nearly blank.) show
0 0 moveto 595 842 lineto stroke
showpage
"""

GS = shutil.which("gs")
TIFFCP = shutil.which("tiffcp")


def need(tool: str | None, name: str) -> str:
    if tool is None:
        pytest.skip(f"{name} is not installed (scripts/setup installs it)")
    return tool


def render(tmp: Path, device: str, size: tuple[int, int], res: tuple[int, int], name: str) -> Path:
    """Render DOCUMENT_PS with Ghostscript ``device`` at exactly ``size`` pixels."""
    gs = need(GS, "ghostscript")
    src = tmp / "doc.ps"
    src.write_bytes(DOCUMENT_PS)
    out = tmp / name
    subprocess.run(
        [gs, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", f"-sDEVICE={device}", f"-g{size[0]}x{size[1]}",
         f"-r{res[0]}x{res[1]}", "-dFIXEDMEDIA", "-dPDFFitPage", f"-sOutputFile={out}", str(src)],
        check=True, timeout=60,
    )
    return out


def tiffcp(src: Path, dst: Path, compression: str, rows_per_strip: int | None = None) -> Path:
    cmd = [need(TIFFCP, "libtiff-tools"), "-c", compression]
    if rows_per_strip:
        cmd += ["-r", str(rows_per_strip)]
    subprocess.run(cmd + [str(src), str(dst)], check=True, timeout=60)
    return dst


def pillow_pages(blob: bytes) -> list[np.ndarray]:
    """Every page of a TIFF as uint8 rows, 1 = black, as Pillow/libtiff decodes it."""
    im = Image.open(io.BytesIO(blob))
    pages = []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        pages.append((np.array(im.convert("L")) < 128).astype(np.uint8))
    return pages


def coding_of(compression: int, t4_options: int) -> str:
    return "mmr" if compression == 4 else ("mr" if t4_options & 1 else "mh")


def decode_tiff_with_ours(blob: bytes) -> list[tuple[np.ndarray, int, bool]]:
    """Decode every page of a fax TIFF with dsp.t4, strip by strip: (rows, bad rows, complete)."""
    out = []
    for tp in read_tiff(blob):
        assert tp.fill_order == 1
        coding = coding_of(tp.compression, tp.t4_options)
        parts, bad, complete = [], 0, True
        for j, strip in enumerate(tp.strips):
            h = min(tp.rows_per_strip, tp.height - j * tp.rows_per_strip)
            res = decode_page(strip, tp.width, coding, height=h)
            parts.append(res.page.rows)
            bad += res.bad_rows
            complete &= res.complete
        rows = np.concatenate(parts)
        if tp.photometric == 1:  # BlackIsZero: our 1 is "ink" as coded, flip to 1 = black
            rows = 1 - rows
        out.append((rows, bad, complete))
    return out


def wrap(pages: list[tuple[bytes, int, int]], coding: str, **kw) -> bytes:
    return write_tiff(pages, coding, **kw)


def ladder(width: int, start: int, step: int) -> np.ndarray:
    """One row of alternating white/black runs of lengths start, start+step, ... (cut at width)."""
    row = np.zeros(width, np.uint8)
    x, run, colour = 0, start, 0
    while x < width:
        row[x : x + run] = colour
        x += run
        run += step
        colour ^= 1
    return row


def ladder_rows(width: int) -> list[np.ndarray]:
    """Rows that together use every terminating and make-up code of both colours."""
    rows = [ladder(width, s, 1) for s in (0, 1, 2, 3)]  # runs 0..~60 of both colours
    rows += [ladder(width, s, 64) for s in range(0, 64, 9)]  # make-up + terminating pairs
    rows += [np.r_[np.zeros(r, np.uint8), np.ones(width - r, np.uint8)] for r in range(0, width, 61)]
    rows += [np.r_[np.ones(r, np.uint8), np.zeros(width - r, np.uint8)] for r in range(0, width, 67)]
    return rows


def synthetic(width: int, height: int, seed: int) -> Page:
    """Ladders of every run length and code, long runs, single pixels, near-copies of the row above."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((height, width), np.uint8)
    y = 0
    for row in ladder_rows(width):
        if y >= height:
            break
        rows[y] = row
        y += 1
    patterns = [
        lambda: np.ones(width, np.uint8),
        lambda: (np.arange(width) % 2).astype(np.uint8),
        lambda: ((np.arange(width) // 3) % 2).astype(np.uint8),
        lambda: (rng.random(width) < 0.5).astype(np.uint8),
        lambda: (rng.random(width) < 0.03).astype(np.uint8),
        lambda: np.r_[np.ones(1, np.uint8), np.zeros(width - 2, np.uint8), np.ones(1, np.uint8)],
    ]
    i = 0
    while y < height:
        rows[y] = patterns[i % len(patterns)]()
        if i % 5 == 4 and y + 1 < height:  # a row nearly equal to the one above: vertical modes
            rows[y + 1] = np.roll(rows[y], int(rng.integers(-3, 4)))
            y += 1
        y += 1
        i += 1
    return Page(rows)
