"""TIFF container for fax pages: read any baseline TIFF's IFDs, write multi-page TIFF-F.

What it does: `read_tiff` walks the IFD chain and returns, per image, the tags that matter
for fax (size, compression, photometric, FillOrder, T4/T6Options, resolution and unit) and
the raw strip bytes.  `decode_fax_image` turns a CCITT-coded image (Compression 3 or 4)
into a `Page` with `dsp.t4`.  `write_tiff` writes coded pages as TIFF Class F (RFC 2306):
one strip per page, resolution in inches, PageNumber, T4Options/T6Options; the coded bytes
come either from `encode_page` (our T.4 encoder) or, for a received fax, straight off the
line through `wrap_coded_page` without re-encoding.

How: plain `struct` over the bytes; every offset is bounds-checked so a damaged file
gives a RenderError naming the problem, and the IFD chain is followed at most once per
offset so a loop cannot hang the reader.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dsp.t4.page import Page
from mailfax.render_common import RenderError

# TIFF 6.0 tag numbers used here.
NEW_SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE, COMPRESSION = 254, 256, 257, 258, 259
PHOTOMETRIC, FILL_ORDER, STRIP_OFFSETS, SAMPLES_PER_PIXEL, ROWS_PER_STRIP = 262, 266, 273, 277, 278
STRIP_BYTE_COUNTS, X_RESOLUTION, Y_RESOLUTION, T4_OPTIONS, T6_OPTIONS = 279, 282, 283, 292, 293
RESOLUTION_UNIT, PAGE_NUMBER, SOFTWARE, TILE_WIDTH = 296, 297, 305, 322
BAD_FAX_LINES, CLEAN_FAX_DATA, CONSECUTIVE_BAD_FAX_LINES = 326, 327, 328

#: TIFF field type -> (struct code, size in bytes).
_TYPES = {1: ("B", 1), 2: ("c", 1), 3: ("H", 2), 4: ("I", 4), 5: ("II", 8), 6: ("b", 1), 7: ("B", 1),
          8: ("h", 2), 9: ("i", 4), 10: ("ii", 8), 11: ("f", 4), 12: ("d", 8), 13: ("I", 4)}

#: T4Options bits (TIFF 6.0 §11): 2-D coding, uncompressed mode, fill bits before EOL.
T4_2D, T4_UNCOMPRESSED, T4_FILL_BITS = 1, 2, 4
#: Compression values: CCITT modified Huffman RLE (no EOLs), T.4 (G3), T.6 (G4).
COMP_NONE, COMP_CCITT_RLE, COMP_T4, COMP_T6 = 1, 2, 3, 4

_FAX_X = 204
_FAX_Y = (98, 196, 391)
#: Scan-line lengths of fax pages: 204 dpi (A4, B4, A3 and the R8/R16 doubles) and 300 dpi.
FAX_WIDTHS = frozenset({1728, 2048, 2432, 3456, 4096, 4864, 2592, 3072, 3648})
_BIT_REVERSE = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class TiffImage:
    """One image (IFD) of a TIFF file with the fields fax handling needs."""

    width: int
    height: int
    compression: int
    photometric: int
    fill_order: int
    bits_per_sample: int
    samples_per_pixel: int
    t4_options: int
    t6_options: int
    x_dpi: float | None
    y_dpi: float | None
    rows_per_strip: int
    strips: tuple[bytes, ...]
    tiled: bool

    @property
    def is_fax(self) -> bool:
        """Bilevel, CCITT T.4/T.6 coded, in strips: decodable by dsp.t4."""
        return (self.compression in (COMP_T4, COMP_T6) and self.bits_per_sample == 1
                and self.samples_per_pixel == 1 and not self.tiled)

    @property
    def is_fax_page(self) -> bool:
        """Bilevel at a fax line length and resolution (however compressed): a fax page as is."""
        x, _ = fax_resolution(self.x_dpi, self.y_dpi)
        return (self.bits_per_sample == 1 and self.samples_per_pixel == 1 and self.width in FAX_WIDTHS
                and x in (204, 300) and self.y_dpi is not None)


def read_tiff(data: bytes, max_images: int = 10_000) -> list[TiffImage]:
    """All images of a TIFF file, in IFD-chain order."""
    if len(data) < 8:
        raise RenderError("TIFF is truncated (no header)")
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        raise RenderError("not a TIFF file (bad byte-order mark)")
    magic, offset = struct.unpack(order + "HI", data[2:8])
    if magic == 43:
        raise RenderError("BigTIFF files are not supported")
    if magic != 42:
        raise RenderError("not a TIFF file (bad magic number)")
    images: list[TiffImage] = []
    seen: set[int] = set()
    while offset:
        if offset in seen:
            break  # an IFD chain loop: stop at the first repeat
        if len(images) >= max_images:
            raise RenderError(f"TIFF has more than {max_images} pages")
        seen.add(offset)
        tags, offset = _read_ifd(data, order, offset)
        images.append(_image(data, tags, len(images) + 1))
    if not images:
        raise RenderError("TIFF has no images")
    return images


def decode_fax_image(image: TiffImage, number: int = 1) -> tuple[Page, int]:
    """Decode a CCITT-coded TiffImage with dsp.t4; returns (page, rows that had to be repaired).

    Each strip restarts the coding (TIFF 6.0 §10), so strips are decoded one by one.
    """
    from dsp.t4 import decode_page

    if image.compression == COMP_T4 and image.t4_options & T4_UNCOMPRESSED:
        raise RenderError("TIFF uses T.4 uncompressed mode, which is not supported")
    coding = "mmr" if image.compression == COMP_T6 else ("mr" if image.t4_options & T4_2D else "mh")
    x_res, y_res = fax_resolution(image.x_dpi, image.y_dpi)
    parts, bad, remaining = [], 0, image.height
    for strip in image.strips:
        if remaining <= 0:
            break
        rows = min(image.rows_per_strip, remaining)
        if image.fill_order == 2:
            strip = _BIT_REVERSE[np.frombuffer(strip, dtype=np.uint8)].tobytes()
        try:
            result = decode_page(strip, image.width, coding, x_res=x_res, y_res=y_res, height=rows)
        except ValueError as exc:
            raise RenderError(f"TIFF page {number} cannot be decoded: {exc}") from None
        parts.append(result.page.rows[:rows])
        bad += result.bad_rows
        remaining -= rows
    if not parts:
        raise RenderError(f"TIFF page {number} has no image data")
    if bad >= image.height:
        raise RenderError(f"TIFF page {number} holds no decodable {coding.upper()} data")
    rows = np.vstack(parts) if len(parts) > 1 else parts[0]
    if image.photometric == 1:  # BlackIsZero: flip to our 1 = black
        rows = 1 - rows
    return Page(np.ascontiguousarray(rows, dtype=np.uint8), x_res, y_res), bad


@dataclass(frozen=True)
class CodedPage:
    """A page's T.4/T.6 coded bytes plus what a TIFF-F IFD needs to describe them."""

    data: bytes
    width: int
    height: int
    coding: str  # "mh" | "mr" | "mmr"
    x_res: int
    y_res: int
    align_eol: bool = False
    lsb_first: bool = False
    bad_rows: int | None = None
    consecutive_bad_rows: int | None = None


def wrap_coded_page(data: bytes, width: int, height: int, coding: str, x_res: int, y_res: int, *,
                    align_eol: bool = False, lsb_first: bool = False, bad_rows: int | None = None,
                    consecutive_bad_rows: int | None = None) -> CodedPage:
    """Describe bytes that are already T.4/T.6 coded (e.g. a received fax) for `write_tiff`.

    Nothing is re-encoded: the bytes go into the file as they came off the line, with
    FillOrder 2 when the line delivered them least significant bit first.  Given bad-row
    counts, the file records BadFaxLines / CleanFaxData / ConsecutiveBadFaxLines (RFC 2306).
    """
    if coding not in ("mh", "mr", "mmr"):
        raise ValueError(f"coding must be mh, mr or mmr, not {coding!r}")
    return CodedPage(bytes(data), width, height, coding, x_res, y_res, align_eol, lsb_first,
                     bad_rows, consecutive_bad_rows)


def encode_tiff_page(page: Page, coding: str = "mh") -> CodedPage:
    """Code `page` with our T.4/T.6 encoder for a TIFF-F strip (no RTC; EOLs byte-aligned for G3)."""
    from dsp.t4 import encode_page

    if coding == "mmr":
        data = encode_page(page, "mmr", rtc=False)
        return CodedPage(data, page.width, page.height, "mmr", page.x_res, page.y_res)
    data = encode_page(page, coding, k=4 if page.y_res > 200 else 2, rtc=False, align_eol=True)
    return CodedPage(data, page.width, page.height, coding, page.x_res, page.y_res, align_eol=True)


def write_tiff_f(pages: Sequence[Page], coding: str = "mh") -> bytes:
    """A multi-page TIFF-F of `pages`, coded with dsp.t4 (`coding`: mh, mr or mmr)."""
    return write_tiff([encode_tiff_page(p, coding) for p in pages])


def write_tiff(pages: Sequence[CodedPage]) -> bytes:
    """A little-endian multi-page TIFF Class F file holding the coded `pages`."""
    if not pages:
        raise ValueError("a TIFF needs at least one page")
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    prev_link = 4  # where the offset of the next IFD goes
    for index, cp in enumerate(pages):
        strip_offset = len(out)
        out += cp.data
        if len(out) % 2:
            out += b"\x00"
        entries = _ifd_entries(cp, index, len(pages), strip_offset)
        ifd_offset = len(out)
        extra_offset = ifd_offset + 2 + 12 * len(entries) + 4
        extra = bytearray()
        packed = []
        for tag, typ, values in entries:
            code, size = _TYPES[typ]
            if typ == 2:
                raw, count = values, len(values)
            else:
                raw = b"".join(struct.pack("<" + code, *(v if isinstance(v, tuple) else (v,))) for v in values)
                count = len(values)
            if len(raw) <= 4:
                field = raw.ljust(4, b"\x00")
            else:
                field = struct.pack("<I", extra_offset + len(extra))
                extra += raw + (b"\x00" if len(raw) % 2 else b"")
            packed.append(struct.pack("<HHI", tag, typ, count) + field)
        out[prev_link:prev_link + 4] = struct.pack("<I", ifd_offset)
        out += struct.pack("<H", len(packed)) + b"".join(packed)
        prev_link = len(out)
        out += b"\x00\x00\x00\x00" + extra
    return bytes(out)


def _ifd_entries(cp: CodedPage, index: int, total: int, strip_offset: int) -> list[tuple[int, int, tuple | bytes]]:
    """IFD fields of one TIFF-F page, sorted by tag as TIFF 6.0 §2 requires."""
    entries: list[tuple[int, int, tuple | bytes]] = [
        (NEW_SUBFILE_TYPE, 4, (2,)),  # single page of a multi-page image
        (IMAGE_WIDTH, 4, (cp.width,)),
        (IMAGE_LENGTH, 4, (cp.height,)),
        (BITS_PER_SAMPLE, 3, (1,)),
        (COMPRESSION, 3, (COMP_T6 if cp.coding == "mmr" else COMP_T4,)),
        (PHOTOMETRIC, 3, (0,)),  # WhiteIsZero: 1 bits are black, as on the line
        (FILL_ORDER, 3, (2 if cp.lsb_first else 1,)),
        (STRIP_OFFSETS, 4, (strip_offset,)),
        (SAMPLES_PER_PIXEL, 3, (1,)),
        (ROWS_PER_STRIP, 4, (cp.height,)),
        (STRIP_BYTE_COUNTS, 4, (len(cp.data),)),
        (X_RESOLUTION, 5, ((cp.x_res, 1),)),
        (Y_RESOLUTION, 5, ((cp.y_res, 1),)),
    ]
    if cp.coding == "mmr":
        entries.append((T6_OPTIONS, 4, (0,)))
    else:
        entries.append((T4_OPTIONS, 4, ((T4_2D if cp.coding == "mr" else 0) | (T4_FILL_BITS if cp.align_eol else 0),)))
    entries.append((RESOLUTION_UNIT, 3, (2,)))
    entries.append((PAGE_NUMBER, 3, (index, total)))
    if cp.bad_rows is not None:
        entries.append((BAD_FAX_LINES, 4, (cp.bad_rows,)))
        entries.append((CLEAN_FAX_DATA, 3, (0 if cp.bad_rows == 0 else 2,)))
        entries.append((CONSECUTIVE_BAD_FAX_LINES, 4, (cp.consecutive_bad_rows or 0,)))
    entries.append((SOFTWARE, 2, b"mailfax\x00"))
    return sorted(entries, key=lambda e: e[0])


def _read_ifd(data: bytes, order: str, offset: int) -> tuple[dict[int, tuple], int]:
    if offset + 2 > len(data):
        raise RenderError("TIFF is truncated (IFD offset beyond the end of the file)")
    (count,) = struct.unpack_from(order + "H", data, offset)
    end = offset + 2 + 12 * count
    if end + 4 > len(data):
        raise RenderError("TIFF is truncated (IFD runs past the end of the file)")
    tags: dict[int, tuple] = {}
    for i in range(count):
        tag, typ, n, value = struct.unpack_from(order + "HHI4s", data, offset + 2 + 12 * i)
        if typ not in _TYPES:
            continue  # unknown types are skipped (TIFF 6.0 §2: readers must ignore them)
        code, size = _TYPES[typ]
        nbytes = size * n
        if nbytes <= 4:
            raw = value[:nbytes]
        else:
            (where,) = struct.unpack(order + "I", value)
            if where + nbytes > len(data):
                raise RenderError(f"TIFF is truncated (tag {tag} points beyond the end of the file)")
            raw = data[where:where + nbytes]
        if typ == 2:
            tags[tag] = (raw,)
        else:
            flat = struct.unpack(order + code * n, raw)
            tags[tag] = tuple(flat[i:i + 2] for i in range(0, len(flat), 2)) if len(code) == 2 else flat
    (next_offset,) = struct.unpack_from(order + "I", data, end)
    return tags, next_offset


def _image(data: bytes, tags: dict[int, tuple], number: int) -> TiffImage:
    def one(tag: int, default: int | None = None) -> int:
        if tag in tags and tags[tag]:
            return int(tags[tag][0])
        if default is None:
            raise RenderError(f"TIFF page {number} lacks required tag {tag}")
        return default

    width, height = one(IMAGE_WIDTH), one(IMAGE_LENGTH)
    if width <= 0 or height <= 0:
        raise RenderError(f"TIFF page {number} has an empty size {width} x {height}")
    tiled = TILE_WIDTH in tags
    strips: tuple[bytes, ...] = ()
    if not tiled:
        offsets = tags.get(STRIP_OFFSETS, ())
        counts = tags.get(STRIP_BYTE_COUNTS, ())
        if not offsets or len(offsets) != len(counts):
            raise RenderError(f"TIFF page {number} has no valid strips")
        for off, n in zip(offsets, counts):
            if off + n > len(data):
                raise RenderError(f"TIFF is truncated (page {number} image data runs past the end of the file)")
        strips = tuple(data[off:off + n] for off, n in zip(offsets, counts))
    unit = one(RESOLUTION_UNIT, 2)
    scale = {2: 1.0, 3: 2.54}.get(unit)
    return TiffImage(
        width=width, height=height,
        compression=one(COMPRESSION, 1), photometric=one(PHOTOMETRIC, 0), fill_order=one(FILL_ORDER, 1),
        bits_per_sample=one(BITS_PER_SAMPLE, 1), samples_per_pixel=one(SAMPLES_PER_PIXEL, 1),
        t4_options=one(T4_OPTIONS, 0), t6_options=one(T6_OPTIONS, 0),
        x_dpi=_rational(tags.get(X_RESOLUTION), scale), y_dpi=_rational(tags.get(Y_RESOLUTION), scale),
        rows_per_strip=min(one(ROWS_PER_STRIP, height) or height, height),
        strips=strips, tiled=tiled,
    )


def _rational(value: tuple | None, scale: float | None) -> float | None:
    if not value or scale is None:
        return None
    num, den = value[0] if isinstance(value[0], tuple) else (value[0], 1)
    return num / den * scale if den else None


def fax_resolution(x_dpi: float | None, y_dpi: float | None) -> tuple[int, int]:
    """Whole-dpi resolution of a fax image; near-fax values (e.g. 8 x 3.85 per mm) snap to 204/98/196/391."""
    x = _FAX_X if x_dpi is None or abs(x_dpi - _FAX_X) <= 2.5 else round(x_dpi)
    if y_dpi is None:
        return x, 196
    near = min(_FAX_Y, key=lambda v: abs(v - y_dpi))
    y = near if abs(near - y_dpi) <= 0.02 * near else round(y_dpi)
    return x, max(1, y)
