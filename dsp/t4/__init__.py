"""T.4/T.6 image coding (MH, MR, MMR) and the `Page` type.

Public API: `encode_page`, `decode_page` (-> `DecodeResult`), `StreamDecoder` (the
non-ECM line decoder), `bytes_to_bits` / `bits_to_bytes` (line order is LSB-first per
octet, TIFF FillOrder=1 is MSB-first) and `min_row_bits` (minimum scan-line time in
bits).  Coded bytes are MSB-first throughout.

On the line:

- non-ECM send: ``bytes_to_bits(encode_page(page, "mr", k=4, min_row_bits=
  min_row_bits(9600, 10)), lsb_first=False)`` is the image bit sequence, first bit first;
- non-ECM receive: ``StreamDecoder(width, coding).feed(bits)`` per block, then
  ``.finished``, ``.bad_rows``, ``.longest_bad_run``, ``.page()``;
- ECM: frames carry octets LSB-first, so ``reverse_bits_in_bytes(encode_page(...))``
  to send and ``decode_page(reverse_bits_in_bytes(data), width, coding)`` to receive;
- TIFF-F: ``encode_page(page, coding, rtc=False)`` is a Compression=3/4 strip as
  libtiff writes it (see `dsp.t4.encode`); ``decode_page(strip, ..., height=rows)``.
"""

from dsp.t4.bits import SCAN_LINE_TIMES_MS, bits_to_bytes, bytes_to_bits, min_row_bits, reverse_bits_in_bytes
from dsp.t4.decode import DecodeResult, decode_page
from dsp.t4.encode import CODINGS, WIDTHS, encode_page
from dsp.t4.page import RESOLUTIONS, Page
from dsp.t4.stream import StreamDecoder

__all__ = [
    "CODINGS",
    "DecodeResult",
    "Page",
    "RESOLUTIONS",
    "SCAN_LINE_TIMES_MS",
    "StreamDecoder",
    "WIDTHS",
    "bits_to_bytes",
    "bytes_to_bits",
    "decode_page",
    "encode_page",
    "min_row_bits",
    "reverse_bits_in_bytes",
]
