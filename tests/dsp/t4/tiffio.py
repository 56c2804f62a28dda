"""A tiny TIFF reader/writer for the codec tests (bilevel fax strips only).

Reads every page (IFD) of a little- or big-endian TIFF and returns its fax-relevant
tags and the concatenated strip bytes; writes one-strip bilevel pages with a chosen
compression.  Not the application's TIFF container (that is `mailfax/tiff.py`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 16: 8}
_TYPE_FMT = {1: "B", 3: "H", 4: "I", 16: "Q"}

COMPRESSION = {"mh": 3, "mr": 3, "mmr": 4}


@dataclass
class TiffPage:
    width: int
    height: int
    compression: int
    t4_options: int
    t6_options: int
    fill_order: int
    photometric: int
    rows_per_strip: int
    data: bytes  # strips concatenated (one strip per page in fax TIFFs we make)
    strips: list[bytes]


def read_tiff(blob: bytes) -> list[TiffPage]:
    order = {b"II": "<", b"MM": ">"}[blob[:2]]
    (magic,) = struct.unpack(order + "H", blob[2:4])
    assert magic == 42, "BigTIFF not supported"
    (offset,) = struct.unpack(order + "I", blob[4:8])
    pages = []
    while offset:
        (count,) = struct.unpack(order + "H", blob[offset : offset + 2])
        tags: dict[int, list[int]] = {}
        for i in range(count):
            entry = blob[offset + 2 + 12 * i : offset + 14 + 12 * i]
            tag, typ, n = struct.unpack(order + "HHI", entry[:8])
            size = _TYPE_SIZES.get(typ, 1) * n
            raw = entry[8:12] if size <= 4 else blob[struct.unpack(order + "I", entry[8:12])[0]:][:size]
            if typ in _TYPE_FMT:
                tags[tag] = list(struct.unpack(order + _TYPE_FMT[typ] * n, raw[:size]))
            else:
                tags[tag] = [0]
        (offset,) = struct.unpack(order + "I", blob[offset + 2 + 12 * count : offset + 6 + 12 * count])
        strips = [blob[o : o + c] for o, c in zip(tags[273], tags[279])]
        pages.append(
            TiffPage(
                width=tags[256][0],
                height=tags[257][0],
                compression=tags.get(259, [1])[0],
                t4_options=tags.get(292, [0])[0],
                t6_options=tags.get(293, [0])[0],
                fill_order=tags.get(266, [1])[0],
                photometric=tags.get(262, [0])[0],
                rows_per_strip=min(tags.get(278, [2**32 - 1])[0], tags[257][0]),
                data=b"".join(strips),
                strips=strips,
            )
        )
    return pages


def write_tiff(pages: list[tuple[bytes, int, int]], coding: str, *, align_eol: bool = False,
               x_res: int = 204, y_res: int = 196) -> bytes:
    """A little-endian TIFF: one strip per page of (data, width, height), WhiteIsZero."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    ifd_offsets = []
    for data, width, height in pages:
        strip_off = len(out)
        out += data
        if len(out) % 2:
            out += b"\x00"
        res_off = len(out)
        out += struct.pack("<IIII", x_res, 1, y_res, 1)
        entries = [
            (254, 4, 1, 2),  # NewSubfileType: page
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 1, 1),
            (259, 3, 1, COMPRESSION[coding]),
            (262, 3, 1, 0),  # WhiteIsZero
            (266, 3, 1, 1),  # FillOrder MSB-first
            (273, 4, 1, strip_off),
            (277, 3, 1, 1),
            (278, 4, 1, height),
            (279, 4, 1, len(data)),
            (282, 5, 1, res_off),
            (283, 5, 1, res_off + 8),
            (296, 3, 1, 2),  # inch
        ]
        if coding in ("mh", "mr"):
            entries.append((292, 4, 1, (1 if coding == "mr" else 0) | (4 if align_eol else 0)))
        else:
            entries.append((293, 4, 1, 0))
        entries.sort()
        ifd_offsets.append(len(out))
        out += struct.pack("<H", len(entries))
        for tag, typ, n, value in entries:
            if typ == 3:
                out += struct.pack("<HHIHH", tag, typ, n, value, 0)
            else:
                out += struct.pack("<HHII", tag, typ, n, value)
        out += b"\x00\x00\x00\x00"
    struct.pack_into("<I", out, 4, ifd_offsets[0])
    for i, off in enumerate(ifd_offsets[:-1]):
        (count,) = struct.unpack_from("<H", out, off)
        struct.pack_into("<I", out, off + 2 + 12 * count, ifd_offsets[i + 1])
    return bytes(out)
