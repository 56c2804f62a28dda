"""Ghostscript as a bounded subprocess: PDF or PostScript in, bilevel fax pages out.

Why a subprocess and not the in-process library: only a separate process can be stopped
when a PostScript program loops forever, and only a separate process can be given a memory
limit.  Each job runs with ``-dSAFER`` in its own process group (``start_new_session``),
with RLIMIT_AS and RLIMIT_CPU set before exec; on timeout the whole group is killed.

Output is ``pbmraw`` at the fax geometry (``-g`` pixels, ``-r`` dpi, ``-dFIXEDMEDIA`` and
``-dPDFFitPage``/``-dPSFitPage`` so any page is scaled into the fixed fax page instead of
growing to 40800 x 39200 pixels).  Several pages come out as concatenated PBM images, which
`parse_pbm_stream` splits and unpacks with numpy.

Ghostscript exits 0 on several kinds of bad input (REFERENCE §2), so the caller also
compares page counts; here stderr is searched for ``**** Error`` and a non-zero exit is
reported with Ghostscript's own first error line.
"""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass

import numpy as np

from dsp.t4.page import Page
from mailfax import subproc
from mailfax.pagesize import Geometry
from mailfax.render_common import Limits, RenderError

GS = "gs"


@dataclass
class GsJob:
    """A running Ghostscript process writing PBM pages to `output_path`."""

    process: subprocess.Popen
    output_path: str
    geometry: Geometry
    timeout: float


def command(input_path: str, output_path: str, geo: Geometry, *, last_page: int | None = None) -> list[str]:
    """The Ghostscript command line rendering `input_path` to PBM pages at `geo`."""
    cmd = [
        GS, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dNOPROMPT", "-dNOINTERPOLATE",
        "-sstdout=%stderr", "-sDEVICE=pbmraw",
        f"-g{geo.width}x{geo.height}", f"-r{geo.x_res}x{geo.y_res}",
        "-dFIXEDMEDIA", "-dPDFFitPage", "-dPSFitPage",
    ]
    if last_page is not None:
        cmd.append(f"-dLastPage={last_page}")
    cmd += [f"-sOutputFile={output_path}", "-f", input_path]
    return cmd


def start(input_path: str, output_path: str, geo: Geometry, limits: Limits, *, last_page: int | None = None) -> GsJob:
    """Start Ghostscript on `input_path`; `finish` collects the pages."""
    proc = subproc.popen(command(input_path, output_path, geo, last_page=last_page), limits)
    return GsJob(proc, output_path, geo, limits.timeout)


def cancel(job: GsJob) -> None:
    """Stop a job whose input was found bad while it ran."""
    subproc.kill_group(job.process)
    job.process.communicate()


def finish(job: GsJob) -> list[Page]:
    """Wait for `job` (within its timeout) and return its pages, or raise RenderError."""
    proc = job.process
    _, err = subproc.communicate(proc, job.timeout, "Ghostscript")
    text = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        if proc.returncode in (-signal.SIGKILL, -signal.SIGXCPU):
            raise RenderError("Ghostscript exceeded its CPU time limit")
        raise RenderError(f"Ghostscript failed: {first_error(text) or f'exit status {proc.returncode}'}")
    if "**** Error" in text:
        raise RenderError(f"Ghostscript reported an error: {first_error(text)}")
    try:
        with open(job.output_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    return parse_pbm_stream(data, job.geometry.x_res, job.geometry.y_res)


def first_error(text: str) -> str:
    """The most telling line of Ghostscript's error output, shortened to one line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pattern in (r"\*\*\*\* Error", r"^Error:", r"Unrecoverable error", r"VMerror|limitcheck"):
        for ln in lines:
            if re.search(pattern, ln):
                return re.sub(r"^\*+\s*", "", ln)[:200]
    return lines[0][:200] if lines else ""


_PBM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n)*(\d+)")


def parse_pbm_stream(data: bytes, x_res: int, y_res: int) -> list[Page]:
    """Split concatenated raw PBM (P4) images into Pages (PBM: 1 = black, rows byte-padded)."""
    pages: list[Page] = []
    pos = 0
    buf = np.frombuffer(data, dtype=np.uint8)
    while pos < len(data):
        if data[pos:pos + 2] != b"P4":
            if not data[pos:].strip():
                break
            raise RenderError("Ghostscript produced malformed PBM output")
        pos += 2
        dims = []
        for _ in range(2):
            m = _PBM_TOKEN.match(data, pos)
            if not m:
                raise RenderError("Ghostscript produced malformed PBM output")
            dims.append(int(m.group(1)))
            pos = m.end()
        pos += 1  # the single whitespace byte before the raster
        width, height = dims
        stride = (width + 7) // 8
        end = pos + stride * height
        if end > len(data):
            raise RenderError("Ghostscript output was cut short")
        packed = buf[pos:end].reshape(height, stride)
        rows = np.unpackbits(packed, axis=1, count=width) if width % 8 else np.unpackbits(packed, axis=1)
        pages.append(Page(rows, x_res, y_res))
        pos = end
    return pages
