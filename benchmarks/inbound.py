"""Received fax -> documents and email, against what HylaFAX's faxrcvd runs (libtiff's tools).

For one received fax (N pages at fine resolution, stored as TIFF-F/MMR):
- PDF: ours (`pdf_from_tiff_f`: the stored G4 strips into PDF as they are, which the
  received-fax email uses) vs ``tiff2pdf``; also the decode + re-encode path (`to_pdf`);
- PostScript: ours (`to_postscript`) vs ``tiff2ps -a``;
the reference runs as a process, as faxrcvd runs it.  Also, without a reference: the whole
received-fax email (PDF + TIFF + thumbnail) and `accept_received` (TIFF-F + metadata
fsynced, rows committed).  Ratios are ours / reference throughput (higher is better).
Last line: one JSON object.

    .venv/bin/python benchmarks/inbound.py [--pages 10] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailfax import output  # noqa: E402
from mailfax.config import load_config  # noqa: E402
from mailfax.fax_email import build_fax_email, pdf_from_tiff_f  # noqa: E402
from mailfax.inbound import InboundService  # noqa: E402
from mailfax.received import ReceivedStore, pages_of_tiff, tiff_of  # noqa: E402
from mailfax.rules_in import InboundRules, default_route  # noqa: E402
from tests.support.received_faxes import real_pages, sample_fax  # noqa: E402


def best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    pages = real_pages(args.pages)
    fax = sample_fax(pages, fax_id=1)
    tif = tiff_of(fax)
    with tempfile.TemporaryDirectory(prefix="mailfax-bench-") as d:
        src = Path(d) / "fax.tif"
        src.write_bytes(tif)
        ours_pdf = best(lambda: pdf_from_tiff_f(tif), args.reps)
        ours_pdf_recoded = best(lambda: output.to_pdf(pages_of_tiff(tif)), args.reps)
        ref_pdf = best(lambda: subprocess.run(["tiff2pdf", "-o", f"{d}/o.pdf", str(src)], check=True), args.reps)
        ours_ps = best(lambda: output.to_postscript(pages_of_tiff(tif)), args.reps)
        ref_ps = best(lambda: subprocess.run(["tiff2ps", "-a", "-O", f"{d}/o.ps", str(src)], check=True), args.reps)
        email_s = best(lambda: build_fax_email(fax, to="a@b.c", from_address="g@b.c", formats=("pdf", "tiff"),
                                               message_id="<m@b.c>", now=0.0, tiff_bytes=tif).as_bytes(), args.reps)
        cfg = load_config()
        store = ReceivedStore(Path(d) / "q.sqlite", Path(d) / "spool")
        svc = InboundService(cfg, InboundRules((), default_route(cfg)), store, None, clock=time.time)
        accept_s = best(lambda: svc.accept_received(fax), args.reps)
    n = args.pages
    rows = {
        "pdf": {"ours_ms_per_page": 1000 * ours_pdf / n, "tiff2pdf_ms_per_page": 1000 * ref_pdf / n,
                "ratio": ref_pdf / ours_pdf,
                "ours_decode_reencode_ms_per_page": 1000 * ours_pdf_recoded / n},
        "ps": {"ours_ms_per_page": 1000 * ours_ps / n, "tiff2ps_ms_per_page": 1000 * ref_ps / n,
               "ratio": ref_ps / ours_ps},
        "email_pdf_tiff_ms_per_page": 1000 * email_s / n,
        "accept_received_ms_per_fax": 1000 * accept_s,
    }
    for k, v in rows.items():
        print(f"{k:28} {v}")
    print(json.dumps({"benchmark": "inbound", "pages": n, "reps": args.reps, **rows}))


if __name__ == "__main__":
    main()
