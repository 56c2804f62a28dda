"""Bad input: each case fails with a precise RenderError within a bounded time."""

from __future__ import annotations

import struct
import subprocess
import time
import zlib

import numpy as np
import pytest

from mailfax.render import Limits, RenderError, render
from tests.mailfax.fixtures.docs import (
    PAPER_POINTS, blank_pdf, box_postscript, encrypt_pdf, pdf_from_postscript,
)


def good_pdf(pages: int = 3) -> bytes:
    return pdf_from_postscript(box_postscript(PAPER_POINTS["a4"], [(72, 72, 144, 72)], pages=pages))


def reason(data: bytes, **kw) -> str:
    with pytest.raises(RenderError) as err:
        render(data, resolution="standard", **kw)
    assert "\n" not in err.value.reason
    return err.value.reason


def test_empty_file():
    assert reason(b"") == "file is empty"


def test_unknown_type():
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert reason(data).startswith("unknown document type")


def test_text_in_another_charset():
    assert reason("Grüße\n".encode("latin-1")) == "text that is not valid UTF-8 (byte 0xFC at offset 2)"


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_encrypted_pdf_without_password(algorithm):
    if algorithm.startswith("AES"):
        pytest.importorskip("cryptography")
    pdf = encrypt_pdf(good_pdf(), user_password="secret", algorithm=algorithm)
    assert reason(pdf) == "PDF is encrypted and needs a password"


def test_pdf_with_only_an_owner_password_renders():
    assert len(render(encrypt_pdf(good_pdf(), user_password=""), resolution="standard")) == 3


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_pdf(fraction):
    pdf = good_pdf()
    assert reason(pdf[: int(len(pdf) * fraction)]).startswith("PDF is damaged or truncated")


def test_garbage_pdf():
    junk = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    assert reason(b"%PDF-1.7\n" + junk).startswith("PDF is damaged or truncated")


def test_page_200_inches_long():
    msg = reason(blank_pdf([(612, 792), (612, 14400)]))
    assert msg == "page 2 is 8.5 x 200.0 inches, larger than the limit of 50 inches"


def test_postscript_page_200_inches_long():
    ps = box_postscript((612, 14400), [(72, 72, 72, 72)])
    assert reason(ps) == "PostScript page is 8.5 x 200.0 inches, larger than the limit of 50 inches"


def test_more_pdf_pages_than_the_limit():
    assert reason(blank_pdf([(612, 792)] * 5), max_pages=3) == "PDF has 5 pages, more than the limit of 3"


def test_more_postscript_pages_than_the_limit():
    ps = box_postscript(PAPER_POINTS["a4"], [(72, 72, 72, 72)], pages=6)
    assert reason(ps, max_pages=4) == "document has more than 4 pages, the limit"


def test_postscript_that_loops_forever_is_stopped():
    start = time.monotonic()
    assert reason(b"%!PS\n{ 1 pop } loop\n", timeout=1.5) == \
        "Ghostscript did not finish within 1.5 s"
    assert time.monotonic() - start < 6


def test_postscript_error_is_reported():
    assert reason(b"%!PS\nnosuchoperator\nshowpage\n") == "Ghostscript failed: Error: /undefined in nosuchoperator"


def test_postscript_that_eats_memory_hits_the_limit():
    ps = b"%!PS\n[ 0 1 1000 { pop 10000000 string } for ] pop showpage\n"
    start = time.monotonic()
    msg = reason(ps, limits=Limits(memory=512 << 20, timeout=20))
    assert msg == "Ghostscript failed: Error: /VMerror in --string--" and time.monotonic() - start < 20


def test_postscript_without_pages():
    assert reason(b"%!PS\n% nothing drawn\n") == "PostScript document produced no pages"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` (the pixel data would be gigabytes)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_image_that_decompresses_to_gigapixels():
    start = time.monotonic()
    msg = reason(_png_header_only(100_000, 100_000))
    assert time.monotonic() - start < 2
    assert msg == "image is 10000 megapixels, more than the limit of 100 megapixels"


def test_image_over_our_limit_but_under_pillows():
    assert reason(_png_header_only(12_000, 10_000)) == \
        "image is 12000 x 10000 pixels (120 megapixels), more than the limit of 100 megapixels"


def test_gif_with_huge_screen_is_refused_from_its_header():
    gif = b"GIF89a" + struct.pack("<HH", 60000, 60000) + b"\x00\x00\x00" + b"," + struct.pack("<HHHH", 0, 0, 60000, 60000) + b"\x00\x02\x02\x44\x01\x00;"
    assert reason(gif) == "image is 3600 megapixels, more than the limit of 100 megapixels"


def test_truncated_image():
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 300), dtype=np.uint8)).save(buf, "PNG")
    assert reason(buf.getvalue()[:2000]).startswith("cannot decode image")


def test_damaged_tiff():
    assert reason(b"II*\x00\xff\xff\x00\x00") == "TIFF is truncated (IFD offset beyond the end of the file)"
    assert reason(b"MM\x00+" + bytes(12)) == "BigTIFF files are not supported"


def test_unknown_paper_and_resolution():
    with pytest.raises(RenderError, match="unknown paper 'a5'"):
        render(b"hello", paper="a5")
    with pytest.raises(RenderError, match="unknown resolution 'ultra'"):
        render(b"hello", resolution="ultra")


def test_helpers_run_under_the_limits():
    """The limits reach the helper process itself (through prlimit or the preexec fallback)."""
    from mailfax import subproc

    limits = Limits(memory=300 << 20, timeout=7)
    script = ["sh", "-c", "ulimit -v; ulimit -t; ulimit -c"]
    expected = [str(300 << 10), "8", "0"]
    assert subproc.run(script, limits, "sh", b"").decode().split() == expected
    fallback = subprocess.run(script, preexec_fn=subproc.limiter(limits), capture_output=True, text=True)
    assert fallback.stdout.split() == expected


def test_missing_helper_is_a_precise_error():
    from mailfax import subproc

    with pytest.raises(RenderError, match="^cannot run no-such-helper-xyz: it is not installed$"):
        subproc.run(["no-such-helper-xyz"], Limits(), "helper", b"")
