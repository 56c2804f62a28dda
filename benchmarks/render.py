"""Rendering speed: mailfax.render on a 10-page text PDF against bare Ghostscript.

Both sides produce the same thing, A4 fine fax bitmaps (pbmraw at 1728 x 2292, 204x196
dpi), from the same generated PDF in the same run.  "Bare gs" is the exact command
mailfax runs, timed as a plain subprocess writing to a file; "ours" adds the pypdf check
(run while gs works), the limits, reading and unpacking the pages into `Page` arrays.
What the gap is made of (profiled here): turning 10 packed pages into `Page` arrays at one
byte per pixel writes 40 MB of fresh memory (about 2 ms a page, mostly the kernel zeroing
and mapping it; unpacking itself is 0.4 ms), the pypdf check (about 2 ms per document) and
starting prlimit before gs (about 1 ms).  The unpacking overlaps Ghostscript's drawing of
the next page when a second core is free, so the wall-clock ratio is better on an idle
machine than under load.
Runs alternate to share any machine load fairly; the best of the repeats is reported, and
CPU seconds (ours: this process plus Ghostscript; bare: Ghostscript) as a load-independent
check.  Last line: one JSON object (ratio = ours / gs in pages per second, higher is
better; cpu_ratio the same in pages per CPU second).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from mailfax import gs  # noqa: E402
from mailfax.pagesize import geometry  # noqa: E402
from mailfax.render import render  # noqa: E402

PAGES = 10
REPEATS = 15


def text_pdf(tmp: str) -> str:
    """A 10-page text PDF (Times and Courier text, 60 lines a page) made by Ghostscript's pdfwrite."""
    ps = ["%!PS", "/F { findfont exch scalefont setfont } def"]
    for page in range(1, PAGES + 1):
        ps.append(f"18 /Times-Bold F 72 770 moveto (Invoice {page} of {PAGES}) show 10 /Courier F")
        for n in range(60):
            line = f"{n + 1:3d}  item {page}-{n}: the quick brown fox jumps over the lazy dog   1.234,56"
            ps.append(f"72 {740 - 11 * n} moveto ({line}) show")
        ps.append("showpage")
    ps_path, pdf_path = os.path.join(tmp, "doc.ps"), os.path.join(tmp, "doc.pdf")
    with open(ps_path, "w") as f:
        f.write("\n".join(ps) + "\n")
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite",
                    f"-sOutputFile={pdf_path}", ps_path], check=True)
    return pdf_path


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pdf_path = text_pdf(tmp)
        with open(pdf_path, "rb") as f:
            pdf = f.read()
        geo = geometry("a4", "fine")
        bare_cmd = gs.command(pdf_path, os.path.join(tmp, "bare.pbm"), geo, last_page=101)
        assert len(render(pdf, resolution="fine")) == PAGES  # warm caches, check the document
        ours, bare, ours_cpu, bare_cpu = [], [], [], []
        for _ in range(REPEATS):
            c, t = cpu_seconds(), time.perf_counter()
            subprocess.run(bare_cmd, check=True, stdin=subprocess.DEVNULL)
            bare.append(time.perf_counter() - t)
            bare_cpu.append(cpu_seconds() - c)
            c, t = cpu_seconds(), time.perf_counter()
            pages = render(pdf, resolution="fine")
            ours.append(time.perf_counter() - t)
            ours_cpu.append(cpu_seconds() - c)
            assert len(pages) == PAGES
    ours_pps, gs_pps = PAGES / min(ours), PAGES / min(bare)
    print(f"ours: best {min(ours) * 1000:.1f} ms, median {sorted(ours)[REPEATS // 2] * 1000:.1f} ms per {PAGES} pages")
    print(f"gs:   best {min(bare) * 1000:.1f} ms, median {sorted(bare)[REPEATS // 2] * 1000:.1f} ms per {PAGES} pages")
    print(json.dumps({
        "benchmark": "render", "document": f"{PAGES}-page text PDF, A4 fine 1728x2292",
        "ours_pages_per_s": round(ours_pps, 1), "gs_pages_per_s": round(gs_pps, 1),
        "ratio": round(ours_pps / gs_pps, 3),
        "cpu_ratio": round(min(bare_cpu) / min(ours_cpu), 3),
        "ours_median_pages_per_s": round(PAGES / sorted(ours)[REPEATS // 2], 1),
        "gs_median_pages_per_s": round(PAGES / sorted(bare)[REPEATS // 2], 1),
    }))


if __name__ == "__main__":
    main()
