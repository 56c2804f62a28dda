"""`mailfax faxterm send DOC` / `mailfax faxterm recv OUT.tif`: one fax terminal over raw audio.

Audio is 8000 Hz signed 16-bit little-endian mono in blocks of 160 samples, exchanged in
lock-step: per block we write ours, then read theirs, so two programs joined by a pair
of pipes fax each other faster than real time.  End of input means silence from then
on; a block of 160 samples all equal to -32768 means "lost" (the receivers fill in).
The sender calls, the receiver answers.  After the call has ended we keep exchanging for
up to 1.5 s (the side that sent DCN finishes first), stopping early at end of input.

The input is opened without blocking first, so two processes joined by a FIFO pair can
start in either order.  The last line printed is one JSON object: status ("ok",
"failed" or "timeout"), pages, bit_rate, ecm, remote_ident, completion, seconds_audio.
It goes to stderr while the audio goes to stdout, else to stdout.  Exit 0 only for ok.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import sys

import numpy as np

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.events import PageReceived
from dsp.t30.session import SessionConfig

NAME = "faxterm"
HELP = "run one fax terminal over raw audio (lock-step, for testing against other fax programs)"
PROG = "mailfax faxterm"
BLOCK = 160
LOST = np.full(BLOCK, -32768, np.int16)
TAIL_SECONDS = 1.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=["send", "recv"], help="send a document (calling) or receive (answering)")
    parser.add_argument("path", metavar="DOC|OUT.tif", help="document to send, or TIFF file to write")
    parser.add_argument("--in", dest="inp", metavar="PATH", help="audio input (default stdin)")
    parser.add_argument("--out", metavar="PATH", help="audio output (default stdout)")
    ecm = parser.add_mutually_exclusive_group()
    ecm.add_argument("--ecm", dest="ecm", action="store_true", default=True, help="offer ECM (default)")
    ecm.add_argument("--no-ecm", dest="ecm", action="store_false", help="do not offer ECM")
    parser.add_argument("--max-rate", type=int, choices=[4800, 9600, 14400], default=14400)
    parser.add_argument("--ident", default="", help="our identity (TSI/CSI), up to 20 characters")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="give up after this much audio (default 1800)")


def _open_input(path: str | None) -> int:
    """The input, non-blocking: a FIFO opens at once this way (before its writer), and
    reads wait in poll(), which on Linux does not report a FIFO's end before a writer has
    come and gone — so a peer that starts later is waited for, not taken for silence."""
    if path is None:
        fd = sys.stdin.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        return fd
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def _read_block(fd: int) -> np.ndarray | None:
    """Exactly one block, or None at end of input."""
    want = BLOCK * 2
    chunks = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while want:
        poller.poll()
        try:
            data = os.read(fd, want)
        except BlockingIOError:
            continue
        if not data:
            return None
        chunks.append(data)
        want -= len(data)
    return np.frombuffer(b"".join(chunks), "<i2").astype(np.int16)


def _load_pages(path: str) -> list:
    from mailfax.render import render

    with open(path, "rb") as f:
        return render(f.read(), resolution="fine", name=path)


def run(args: argparse.Namespace) -> int:
    pages: tuple = ()
    if args.mode == "send":
        try:
            pages = tuple(_load_pages(args.path))
        except Exception as exc:  # RenderError, OSError: one line, exit 1
            print(f"{PROG}: {args.path}: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
            return 1
    caps = Capabilities(max_rate=args.max_rate, ecm=args.ecm)
    term = FaxTerminal(SessionConfig(calling=args.mode == "send", pages=pages, ident=args.ident,
                                     capabilities=caps))
    in_fd = _open_input(args.inp)
    out = open(args.out, "wb", buffering=0) if args.out else sys.stdout.buffer
    report = sys.stderr if args.out is None else sys.stdout
    seconds, timed_out = _exchange(term, in_fd, out, args.max_seconds)
    received = [e.page for e in term.events if isinstance(e, PageReceived)]
    if args.mode == "recv" and received:
        from mailfax.tiff import write_tiff_f

        with open(args.path, "wb") as f:
            f.write(write_tiff_f(received))
    result = term.result
    completion = result.completion if result else None
    stats = result.stats if result else term.session.stats
    status = "timeout" if timed_out else "ok" if completion is Completion.OK else "failed"
    print(json.dumps({
        "status": status, "pages": stats.pages, "bit_rate": stats.bit_rate, "ecm": stats.ecm,
        "remote_ident": stats.remote_ident,
        "completion": completion.name if completion else "NONE", "seconds_audio": round(seconds, 2),
    }), file=report, flush=True)
    return 0 if status == "ok" else 1


def _exchange(term: FaxTerminal, in_fd: int, out, max_seconds: float) -> tuple[float, bool]:
    """The lock-step loop; returns (audio seconds, whether the time limit ended it)."""
    n = 0
    limit = int(max_seconds * 8000)
    ended_at = None
    input_open = True
    output_open = True
    while True:
        if term.finished:
            ended_at = n if ended_at is None else ended_at
            if n - ended_at >= TAIL_SECONDS * 8000 or not input_open:
                return n / 8000, False
        if n >= limit:
            return n / 8000, True
        ours = term.transmit(BLOCK)
        if output_open:
            try:
                out.write(ours.astype("<i2").tobytes())
                out.flush()
            except (BrokenPipeError, OSError):
                output_open = False
        theirs = _read_block(in_fd) if input_open else None
        if theirs is None:
            input_open = False
            term.receive(np.zeros(BLOCK, np.int16))
        elif np.array_equal(theirs, LOST):
            term.fillin(BLOCK)
        else:
            term.receive(theirs)
        n += BLOCK
