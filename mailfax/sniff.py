"""Recognise a document's type from its content (magic bytes), never from its file name.

Mail clients and users name files freely ("scan.pdf" that is a JPEG, "fax" with no
suffix), so the bytes decide.  Text is accepted only when it is valid UTF-8 without
control characters other than layout ones.
"""

from __future__ import annotations

import enum
import re


class Kind(enum.Enum):
    EMPTY = "empty"
    PDF = "PDF"
    POSTSCRIPT = "PostScript"
    PNG = "PNG"
    JPEG = "JPEG"
    GIF = "GIF"
    BMP = "BMP"
    TIFF = "TIFF"
    TEXT = "text"
    UNKNOWN = "unknown"


#: Kinds Pillow decodes (TIFF goes to mailfax.tiff first).
IMAGE_KINDS = frozenset({Kind.PNG, Kind.JPEG, Kind.GIF, Kind.BMP})

#: control characters other than layout ones (tab, newlines, form feed, ESC) mean "binary".
_BINARY_CONTROLS = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}


def sniff(data: bytes) -> Kind:
    """The kind of document `data` holds."""
    if not data.strip():
        return Kind.EMPTY
    head = data[:1024]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Kind.GIF
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return Kind.TIFF
    if head.startswith(b"BM") and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return Kind.BMP
    # PDF 1.7 §7.5.2 / Implementation note: readers accept the header within the first 1024 bytes.
    if b"%PDF-" in head:
        return Kind.PDF
    if head.lstrip(b"\x04").startswith(b"%!") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return Kind.POSTSCRIPT
    if _is_text(data):
        return Kind.TEXT
    return Kind.UNKNOWN


def decode_text(data: bytes) -> str | None:
    """`data` as text (UTF-8, optional BOM) or None when it is not plain text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if _BINARY_CONTROLS.search(text) else text


def describe_unknown(data: bytes) -> str:
    """One line saying why `data` was not recognised, for the error message."""
    head = data[:4096]
    if b"\x00" not in head:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not _BINARY_CONTROLS.search(head.decode("latin-1")):
                return f"text that is not valid UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start})"
    return "unknown document type (not PDF, PostScript, TIFF, PNG, JPEG, GIF, BMP or UTF-8 text)"


def _is_text(data: bytes) -> bool:
    return decode_text(data) is not None
