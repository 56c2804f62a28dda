"""`mailfax convert INPUT... -o OUTPUT`: documents to fax pages to PDF, TIFF-F, PS or PNG.

All inputs are rendered in order into one page list; the output type comes from OUTPUT's
suffix (.pdf .tif .tiff .ps .png; PNG is a thumbnail of page 1).  The output file is
written whole or not at all (temporary file, then rename).  Exit 0 on success; 1 with one
line ``mailfax convert: <file>: <reason>`` on stderr on failure; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from mailfax.output import OutputFormat, format_for_path, write_document
from mailfax.pagesize import PAPERS
from mailfax.render import RESOLUTIONS, RenderError, render

NAME = "convert"
HELP = "convert documents to PDF, TIFF, PS or PNG fax pages"
PROG = "mailfax convert"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="documents (PDF, PS, TIFF, PNG, JPEG, GIF, BMP, text)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output file: .pdf .tif .tiff .ps or .png")
    parser.add_argument("--resolution", choices=list(RESOLUTIONS), default="fine", help="fax resolution (default fine)")
    parser.add_argument("--paper", choices=list(PAPERS), default="a4", type=str.lower, help="paper size (default a4)")
    parser.add_argument("--compression", choices=["mh", "mr", "mmr"], default="mh",
                        help="TIFF coding: mh (G3 1-D), mr (G3 2-D) or mmr (G4); default mh")
    parser.add_argument("--max-pages", type=int, default=100, help="refuse documents with more pages (default 100)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per rendering step (default 60)")


def run(args: argparse.Namespace) -> int:
    fmt = format_for_path(args.output)
    if fmt is None:
        print(f"{PROG}: {args.output}: unknown output type (use .pdf, .tif, .tiff, .ps or .png)", file=sys.stderr)
        return 2
    pages = []
    for path in args.inputs:
        try:
            with open(path, "rb") as f:
                data = f.read()
            pages += render(data, resolution=args.resolution, paper=args.paper, max_pages=args.max_pages,
                            timeout=args.timeout, name=path)
        except OSError as exc:
            return _fail(path, exc.strerror or str(exc))
        except RenderError as exc:
            return _fail(path, exc.reason)
    if len(pages) > args.max_pages:
        return _fail(args.output, f"{len(pages)} pages in all, more than the limit of {args.max_pages}")
    try:
        _write_atomically(args.output, write_document(pages, fmt, compression=args.compression))
    except OSError as exc:
        return _fail(args.output, exc.strerror or str(exc))
    return 0


def _fail(path: str, reason: str) -> int:
    print(f"{PROG}: {path}: {reason}", file=sys.stderr)
    return 1


def _write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".mailfax-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


__all__ = ["NAME", "HELP", "add_arguments", "run", "OutputFormat"]
