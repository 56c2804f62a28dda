"""Ghostscript as a bounded subprocess: PDF or PostScript in, bilevel fax pages out.

Why a subprocess and not the in-process library: only a separate process can be stopped
when a PostScript program loops forever, and only a separate process can be given a memory
limit.  Each job runs with ``-dSAFER`` in its own process group (``start_new_session``),
with RLIMIT_AS and RLIMIT_CPU set before exec; on timeout the whole group is killed.

Output is ``pbmraw`` at the fax geometry (``-g`` pixels, ``-r`` dpi, ``-dFIXEDMEDIA`` and
``-dPDFFitPage``/``-dPSFitPage`` so any page is scaled into the fixed fax page instead of
growing to 40800 x 39200 pixels).  Pages come through a pipe as concatenated PBM images,
which `PbmSplitter` unpacks with numpy while Ghostscript is still drawing the next page.

Ghostscript exits 0 on several kinds of bad input (REFERENCE §2), so the caller also
compares page counts; here stderr is searched for ``**** Error`` and a non-zero exit is
reported with Ghostscript's own first error line.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

import numpy as np

from dsp.t4.page import Page
from mailfax import subproc
from mailfax.pagesize import Geometry
from mailfax.render_common import Limits, RenderError

GS = "gs"


@dataclass
class GsJob:
    """A running Ghostscript process writing PBM pages to its stdout."""

    process: subprocess.Popen
    geometry: Geometry
    timeout: float


#: Ghostscript's messages kept for the error line; the rest is read and dropped.
_MAX_MESSAGES = 1 << 16


def command(input_path: str, output_path: str, geo: Geometry, *, last_page: int | None = None) -> list[str]:
    """The Ghostscript command line rendering `input_path` to PBM pages at `geo` ("-": stdout)."""
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


def start(input_path: str, geo: Geometry, limits: Limits, *, last_page: int | None = None) -> GsJob:
    """Start Ghostscript on `input_path`; `finish` collects the pages."""
    proc = subproc.popen(command(input_path, "-", geo, last_page=last_page), limits,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return GsJob(proc, geo, limits.timeout)


def cancel(job: GsJob) -> None:
    """Stop a job whose input was found bad while it ran."""
    subproc.kill_group(job.process)
    job.process.wait()
    job.process.stdout.close()
    job.process.stderr.close()


def finish(job: GsJob) -> list[Page]:
    """Read `job`'s pages as they come (within its timeout); the pages, or RenderError."""
    proc = job.process
    try:
        splitter, messages = _read_pages(job)
    except BaseException:
        subproc.kill_group(proc)
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    text = messages.decode("utf-8", "replace")
    if proc.returncode != 0:
        if proc.returncode in (-signal.SIGKILL, -signal.SIGXCPU):
            raise RenderError("Ghostscript exceeded its CPU time limit")
        raise RenderError(f"Ghostscript failed: {first_error(text) or f'exit status {proc.returncode}'}")
    if "**** Error" in text:
        raise RenderError(f"Ghostscript reported an error: {first_error(text)}")
    return splitter.close()


def _read_pages(job: GsJob) -> tuple[PbmSplitter, bytes]:
    """Unpack pages from stdout and collect stderr until Ghostscript exits, all in one wait
    loop (pages are unpacked while it draws the next; neither pipe can fill up and block
    it).  The exit is awaited on a pidfd, so no polling; RenderError at the deadline."""
    proc, deadline = job.process, time.monotonic() + job.timeout
    splitter = PbmSplitter(job.geometry.x_res, job.geometry.y_res)
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    messages = bytearray()
    pidfd = _pidfd(proc.pid)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            sel.register(err, selectors.EVENT_READ)
            if pidfd is not None:
                sel.register(pidfd, selectors.EVENT_READ)
            while sel.get_map():  # until both pipes are at EOF and the process has exited
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _timed_out(job)
                for key, _ in sel.select(left):
                    if key.fd == out:
                        if not splitter.read_from(out):
                            sel.unregister(out)
                    elif key.fd == err:
                        chunk = os.read(err, 1 << 16)
                        if not chunk:
                            sel.unregister(err)
                        elif len(messages) < _MAX_MESSAGES:
                            messages += chunk
                    else:
                        sel.unregister(pidfd)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    try:
        proc.wait(max(0.01, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise _timed_out(job) from None
    return splitter, bytes(messages)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when `pid` exits (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _timed_out(job: GsJob) -> RenderError:
    subproc.kill_group(job.process)
    job.process.wait()
    return RenderError(f"Ghostscript did not finish within {job.timeout:g} s")


def first_error(text: str) -> str:
    """The most telling line of Ghostscript's error output, shortened to one line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pattern in (r"\*\*\*\* Error", r"^Error:", r"Unrecoverable error", r"VMerror|limitcheck"):
        for ln in lines:
            if re.search(pattern, ln):
                return re.sub(r"^\*+\s*", "", ln)[:200]
    return lines[0][:200] if lines else ""


_PBM_HEADER = re.compile(rb"P4(?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)\s")


class PbmSplitter:
    """Splits a stream of concatenated raw PBM (P4) images into Pages as bytes arrive.

    PBM rows are padded to whole bytes with 1 = black, as in `Page`.  Bytes are read into
    one reusable buffer (`read_from`) sized for a whole page, so the stream costs no
    allocation per chunk; only the unpacked pages are new memory.
    """

    def __init__(self, x_res: int, y_res: int) -> None:
        self.x_res, self.y_res = x_res, y_res
        self.pages: list[Page] = []
        self._buf = bytearray(1 << 16)
        self._len = 0  # bytes of _buf holding data not yet turned into pages
        self._need = 0  # bytes the page being received needs in all (header included)

    def read_from(self, fd: int) -> int:
        """Read what `fd` has into the buffer and split off finished pages; 0 at end of stream."""
        want = max(self._need, self._len + (1 << 16))
        if want > len(self._buf):
            self._buf.extend(bytes(want - len(self._buf)))
        with memoryview(self._buf) as view:
            n = os.readv(fd, [view[self._len:]])
        self._len += n
        self._split()
        return n

    def feed(self, chunk: bytes) -> None:
        """Add `chunk` (for callers holding bytes rather than a file descriptor)."""
        end = self._len + len(chunk)
        if end > len(self._buf):
            self._buf.extend(bytes(end - len(self._buf)))
        self._buf[self._len:end] = chunk
        self._len = end
        self._split()

    def _split(self) -> None:
        pos = 0
        while True:
            m = _PBM_HEADER.match(self._buf, pos, self._len)
            if not m:
                if self._len - pos > 64 and not self._buf.startswith(b"P4", pos):
                    raise RenderError("Ghostscript produced malformed PBM output")
                self._need = 0
                break
            width, height = int(m.group(1)), int(m.group(2))
            stride = (width + 7) // 8
            end = m.end() + stride * height
            if end > self._len:
                self._need = end - pos
                break
            packed = np.frombuffer(self._buf, np.uint8, stride * height, m.end()).reshape(height, stride)
            rows = np.unpackbits(packed, axis=1, count=width) if width % 8 else np.unpackbits(packed, axis=1)
            del packed  # release the view of the buffer
            self.pages.append(Page(rows, self.x_res, self.y_res))
            pos = end
        if pos:  # move the start of the next page to the front
            self._buf[:self._len - pos] = self._buf[pos:self._len]
            self._len -= pos

    def close(self) -> list[Page]:
        """All pages; RenderError if the stream ended inside a page."""
        if bytes(self._buf[:self._len]).strip():
            raise RenderError("Ghostscript output was cut short")
        return self.pages


def parse_pbm_stream(data: bytes, x_res: int, y_res: int) -> list[Page]:
    """Split concatenated raw PBM (P4) images into Pages."""
    splitter = PbmSplitter(x_res, y_res)
    splitter.feed(data)
    return splitter.close()
