"""Speed of dsp.t4 against libtiff (tiffcp) on the same A4 fine text page, in one run.

The page: a full A4 page of text rendered by Ghostscript at 204x196 dpi (1728 x 2292).
libtiff: ``tiffcp -c g3 | g3:2d | g4`` over an uncompressed TIFF holding PAGES copies
of the page (encode), and ``tiffcp -c none`` over the coded files (decode); pages/s is
PAGES / child CPU time, so process start-up and file I/O are spread over PAGES pages.
Ours: ``encode_page`` / ``decode_page`` (to a uint8 raster) on the same page, CPU time of
PAGES calls after one warm-up call (numba compile or cache load excluded).  Each figure
is the best of ROUNDS rounds, ours and libtiff's interleaved, to damp the noise of a
shared machine.  MR uses K=4,
as libtiff does above 150 dpi.

Last line: one JSON object with pages/s and ratios (ours / libtiff, higher is better).
"""

from __future__ import annotations

import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dsp.t4 import Page, decode_page, encode_page  # noqa: E402

PAGES = 60
ROUNDS = 3
LIBTIFF_MODES = {"mh": "g3", "mr": "g3:2d", "mmr": "g4"}
K = 4


def text_ps() -> bytes:
    words = ("fax gateway email page modem line quality receiver sender document "
             "the quick brown fox jumps over lazy dog 0123456789").split()
    rng = np.random.default_rng(7)
    lines = [b"%!PS", b"/Times-Roman findfont 10.5 scalefont setfont"]
    for i in range(64):
        text = " ".join(rng.choice(words, 14)).encode()
        lines.append(b"50 %d moveto (%s) show" % (800 - 12 * i, text))
    lines += [b"/Helvetica-Bold findfont 20 scalefont setfont 50 815 moveto (Quarterly report) show",
              b"showpage"]
    return b"\n".join(lines) + b"\n"


def render_page(tmp: Path) -> Page:
    (tmp / "page.ps").write_bytes(text_ps())
    out = tmp / "page.tif"
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=tiffg4", "-g1728x2292",
                    "-r204x196", f"-sOutputFile={out}", str(tmp / "page.ps")], check=True)
    rows = (np.array(Image.open(io.BytesIO(out.read_bytes())).convert("L")) < 128).astype(np.uint8)
    return Page(rows, 204, 196)


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tiffcp_seconds(args: list[str]) -> float:
    """Child CPU seconds of one tiffcp run over PAGES pages."""
    before = child_cpu()
    subprocess.run(["tiffcp", *args], check=True)
    return child_cpu() - before


def our_seconds(fn) -> float:
    """CPU seconds of PAGES calls of ``fn``."""
    start = time.process_time()
    for _ in range(PAGES):
        fn()
    return time.process_time() - start


def best_rates(jobs: dict) -> dict:
    """Pages/s of each job, best of ROUNDS, the jobs interleaved so load hits all alike."""
    best = {name: float("inf") for name in jobs}
    for _ in range(ROUNDS):
        for name, job in jobs.items():
            best[name] = min(best[name], job())
    return {name: PAGES / seconds for name, seconds in best.items()}


def main() -> None:
    if not (shutil.which("gs") and shutil.which("tiffcp")):
        sys.exit("needs ghostscript and libtiff-tools")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        page = render_page(tmp)
        subprocess.run(["tiffcp", "-c", "none", str(tmp / "page.tif"), str(tmp / "one.tif")], check=True)
        subprocess.run(["tiffcp", "-c", "none", *[str(tmp / "one.tif")] * PAGES, str(tmp / "many.tif")], check=True)
        result = {"page": f"A4 fine text {page.width}x{page.height} (gs)", "pages_per_run": PAGES,
                  "black_pixels": int(page.rows.sum()), "ours": {}, "libtiff": {}, "ratio": {},
                  "bytes": {}}
        for coding, mode in LIBTIFF_MODES.items():
            coded = tmp / f"many-{coding}.tif"
            data = encode_page(page, coding, k=K)  # also the warm-up: numba compile / cache load
            assert decode_page(data, page.width, coding).page.same_pixels(page)
            rates = best_rates({
                "enc_lib": lambda: tiffcp_seconds(["-c", mode, str(tmp / "many.tif"), str(coded)]),
                "enc_ours": lambda: our_seconds(lambda: encode_page(page, coding, k=K)),
                "dec_lib": lambda: tiffcp_seconds(["-c", "none", str(coded), str(tmp / "back.tif")]),
                "dec_ours": lambda: our_seconds(lambda: decode_page(data, page.width, coding)),
            })
            enc_lib, enc_ours, dec_lib, dec_ours = (rates[n] for n in ("enc_lib", "enc_ours", "dec_lib", "dec_ours"))
            result["bytes"][coding] = len(data)
            result["ours"][coding] = {"encode_pages_s": round(enc_ours, 1), "decode_pages_s": round(dec_ours, 1)}
            result["libtiff"][coding] = {"encode_pages_s": round(enc_lib, 1), "decode_pages_s": round(dec_lib, 1)}
            result["ratio"][f"encode_{coding}"] = round(enc_ours / enc_lib, 2)
            result["ratio"][f"decode_{coding}"] = round(dec_ours / dec_lib, 2)
            print(f"{coding:4s} encode ours {enc_ours:7.1f} p/s  libtiff {enc_lib:7.1f} p/s | "
                  f"decode ours {dec_ours:7.1f} p/s  libtiff {dec_lib:7.1f} p/s")
        result["min_ratio"] = min(result["ratio"].values())
        result["timing"] = f"CPU time, best of {ROUNDS}; numba compile excluded (warm-up call first)"
        result["load_average"] = round(__import__("os").getloadavg()[0], 2)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
