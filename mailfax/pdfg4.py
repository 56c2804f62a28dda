"""A minimal PDF writer for fax pages that are already T.6 (G4) coded.

Why our own?  A received fax's pages arrive as G4 (ECM MMR) and a rendered page is G4
after one call to our encoder; a PDF only has to carry those bytes in an image XObject
with ``/Filter /CCITTFaxDecode`` (PDF 1.7 §7.4.6), one page each, sized by each axis's own
resolution so 204x98 pages are not stretched.  Going through img2pdf meant writing a TIFF
per page for it to parse again; this writes the PDF objects directly, like libtiff's
tiff2pdf does, in a few microseconds per page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class G4Page:
    """One page's T.6 data (most significant bit first) with its size and resolution."""

    data: bytes
    width: int
    height: int
    x_dpi: float
    y_dpi: float


def _num(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def pdf_from_g4(pages: Sequence[G4Page], *, producer: str = "mailfax") -> bytes:
    """A PDF 1.4 document showing each page's G4 image over its whole physical page.

    CCITTFaxDecode with ``/K -1`` (pure 2-D, T.6), ``/BlackIs1 false`` so decoded black is
    0 in ``/DeviceGray`` (black); ``/Rows`` bounds the decode if the data ends early.
    """
    if not pages:
        raise ValueError("no pages to write")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []

    def obj(body: bytes) -> None:
        offsets.append(len(out))
        out.extend(b"%d 0 obj\n" % len(offsets))
        out.extend(body)
        out.extend(b"\nendobj\n")

    n = len(pages)
    kids = " ".join(f"{4 + 3 * i} 0 R" for i in range(n))
    obj(b"<< /Type /Catalog /Pages 2 0 R >>")
    obj(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    obj(b"<< /Producer (" + producer.encode("ascii", "replace").replace(b"(", b"").replace(b")", b"") + b") >>")
    for i, p in enumerate(pages):
        page_no, content_no, image_no = 4 + 3 * i, 5 + 3 * i, 6 + 3 * i
        w_pt, h_pt = _num(p.width * 72 / p.x_dpi), _num(p.height * 72 / p.y_dpi)
        obj(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt} {h_pt}] "
            f"/Resources << /XObject << /Im0 {image_no} 0 R >> >> /Contents {content_no} 0 R >>".encode())
        draw = f"q {w_pt} 0 0 {h_pt} 0 0 cm /Im0 Do Q".encode()
        obj(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        obj(f"<< /Type /XObject /Subtype /Image /Width {p.width} /Height {p.height} /ColorSpace /DeviceGray "
            f"/BitsPerComponent 1 /Filter /CCITTFaxDecode "
            f"/DecodeParms << /K -1 /Columns {p.width} /Rows {p.height} >> /Length {len(p.data)} >>\nstream\n".encode()
            + p.data + b"\nendstream")
    xref = len(out)
    out.extend(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    out.extend(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.extend(b"trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return bytes(out)
