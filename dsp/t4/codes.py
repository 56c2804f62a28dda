"""T.4/T.6 code tables and the numpy lookup arrays the coders use.

What: the modified-Huffman run-length codes (T.4 §4.1.2, Tables 2 and 3: terminating
codes 0-63 and make-up codes 64-1728 per colour, plus the extended make-up codes
1792-2560 shared by both colours), the 2-D mode codes (T.4 §4.2.1.3.3, Table 4), EOL
(§4.1.2) and derived arrays.

How: codes are kept as bit strings (easy to check against the Recommendation) and turned
once, at import, into small numpy arrays: per-colour (code, length) arrays for the
encoder, and 13-bit / 7-bit lookup tables for the decoder (every 13-bit window whose
prefix is a code maps to that code's run and length).
"""

from __future__ import annotations

import numpy as np

WHITE, BLACK = 0, 1

# T.4 Table 2: terminating codes, run lengths 0..63.
WHITE_TERMINATING = """
00110101 000111 0111 1000 1011 1100 1110 1111 10011 10100 00111 01000 001000 000011
110100 110101 101010 101011 0100111 0001100 0001000 0010111 0000011 0000100 0101000
0101011 0010011 0100100 0011000 00000010 00000011 00011010 00011011 00010010 00010011
00010100 00010101 00010110 00010111 00101000 00101001 00101010 00101011 00101100
00101101 00000100 00000101 00001010 00001011 01010010 01010011 01010100 01010101
00100100 00100101 01011000 01011001 01011010 01011011 01001010 01001011 00110010
00110011 00110100
""".split()

BLACK_TERMINATING = """
0000110111 010 11 10 011 0011 0010 00011 000101 000100 0000100 0000101 0000111
00000100 00000111 000011000 0000010111 0000011000 0000001000 00001100111 00001101000
00001101100 00000110111 00000101000 00000010111 00000011000 000011001010 000011001011
000011001100 000011001101 000001101000 000001101001 000001101010 000001101011
000011010010 000011010011 000011010100 000011010101 000011010110 000011010111
000001101100 000001101101 000011011010 000011011011 000001010100 000001010101
000001010110 000001010111 000001100100 000001100101 000001010010 000001010011
000000100100 000000110111 000000111000 000000100111 000000101000 000001011000
000001011001 000000101011 000000101100 000001011010 000001100110 000001100111
""".split()

# T.4 Table 3: make-up codes, run lengths 64, 128, ..., 1728.
WHITE_MAKEUP = """
11011 10010 010111 0110111 00110110 00110111 01100100 01100101 01101000 01100111
011001100 011001101 011010010 011010011 011010100 011010101 011010110 011010111
011011000 011011001 011011010 011011011 010011000 010011001 010011010 011000 010011011
""".split()

BLACK_MAKEUP = """
0000001111 000011001000 000011001001 000001011011 000000110011 000000110100
000000110101 0000001101100 0000001101101 0000001001010 0000001001011 0000001001100
0000001001101 0000001110010 0000001110011 0000001110100 0000001110101 0000001110110
0000001110111 0000001010010 0000001010011 0000001010100 0000001010101 0000001011010
0000001011011 0000001100100 0000001100101
""".split()

# T.4 Table 3 (continued): extended make-up codes 1792..2560, the same for both colours.
EXTENDED_MAKEUP = """
00000001000 00000001100 00000001101 000000010010 000000010011 000000010100
000000010101 000000010110 000000010111 000000011100 000000011101 000000011110
000000011111
""".split()

EOL = "000000000001"  # T.4 §4.1.2: eleven 0s then a 1
EOL_BITS = 12
MAX_MAKEUP = 2560  # longest make-up code; longer runs repeat it (T.4 §4.1.2 note)

# T.4 Table 4 / T.6 Table 1: 2-D mode codes.  Vertical offset d = a1 - b1.
PASS_CODE = "0001"
HORIZONTAL_CODE = "001"
VERTICAL_CODES = {0: "1", 1: "011", 2: "000011", 3: "0000011", -1: "010", -2: "000010", -3: "0000010"}

# Decoder result values for the run-length tables (run lengths are >= 0).
INVALID = -1
EOL_SEEN = -2  # the window starts with EOL (or with more zeros than any code has)

# Mode-table values: PASS, HORIZONTAL, and VERTICAL_BASE + (d + 3) for d in -3..3.
MODE_PASS, MODE_HORIZONTAL, MODE_VERTICAL_BASE = 0, 1, 2

RUN_PEEK = 13  # longest run code (black make-up) is 13 bits
MODE_PEEK = 7  # longest mode code is 7 bits


def run_codes(colour: int) -> dict[int, str]:
    """All run-length codes of one colour: {run length: bit string}."""
    term = WHITE_TERMINATING if colour == WHITE else BLACK_TERMINATING
    makeup = WHITE_MAKEUP if colour == WHITE else BLACK_MAKEUP
    codes = {run: code for run, code in enumerate(term)}
    codes.update({64 * (i + 1): code for i, code in enumerate(makeup + EXTENDED_MAKEUP)})
    return codes


def _encoder_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(term_code, term_len) shaped (2, 64) and (makeup_code, makeup_len) shaped (2, 41).

    makeup index i is the code for run 64*i (index 0 unused).
    """
    term_code = np.zeros((2, 64), np.int64)
    term_len = np.zeros((2, 64), np.int64)
    mk_code = np.zeros((2, MAX_MAKEUP // 64 + 1), np.int64)
    mk_len = np.zeros((2, MAX_MAKEUP // 64 + 1), np.int64)
    for colour in (WHITE, BLACK):
        for run, code in run_codes(colour).items():
            if run < 64:
                term_code[colour, run], term_len[colour, run] = int(code, 2), len(code)
            else:
                mk_code[colour, run // 64], mk_len[colour, run // 64] = int(code, 2), len(code)
    return term_code, term_len, mk_code, mk_len


def _combined_run_arrays(term_code, term_len, mk_code, mk_len) -> tuple[np.ndarray, np.ndarray]:
    """(code, length) shaped (2, 2624): the whole code of every run shorter than 2560 + 64.

    A run of 64 or more is its make-up code followed by the terminating code of the
    remainder (T.4 §4.1.2); joined here (at most 13 + 12 bits) so the encoder writes
    one code per run.
    """
    runs = np.arange(MAX_MAKEUP + 64)
    code = np.empty((2, runs.size), np.int64)
    length = np.empty((2, runs.size), np.int64)
    for colour in (WHITE, BLACK):
        tl, tc = term_len[colour, runs & 63], term_code[colour, runs & 63]
        ml, mc = mk_len[colour, runs >> 6], mk_code[colour, runs >> 6]  # index 0: no make-up
        code[colour] = (mc << tl) | tc
        length[colour] = ml + tl
    return code, length


def _fill(table_val: np.ndarray, table_len: np.ndarray, code: str, value: int, peek: int) -> None:
    shift = peek - len(code)
    start = int(code, 2) << shift
    table_val[start : start + (1 << shift)] = value
    table_len[start : start + (1 << shift)] = len(code)


def _run_decoder_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(value, length) shaped (2, 2**13): run length of the code a 13-bit window starts with."""
    val = np.full((2, 1 << RUN_PEEK), INVALID, np.int64)
    length = np.zeros((2, 1 << RUN_PEEK), np.int64)
    for colour in (WHITE, BLACK):
        for run, code in run_codes(colour).items():
            _fill(val[colour], length[colour], code, run, RUN_PEEK)
        # Eleven or more zeros: EOL (possibly after fill) - never a run code.
        _fill(val[colour], length[colour], "0" * 11, EOL_SEEN, RUN_PEEK)
    return val, length


def _mode_decoder_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(mode, length) of the 2-D mode code a 7-bit window starts with."""
    val = np.full(1 << MODE_PEEK, INVALID, np.int64)
    length = np.zeros(1 << MODE_PEEK, np.int64)
    _fill(val, length, PASS_CODE, MODE_PASS, MODE_PEEK)
    _fill(val, length, HORIZONTAL_CODE, MODE_HORIZONTAL, MODE_PEEK)
    for d, code in VERTICAL_CODES.items():
        _fill(val, length, code, MODE_VERTICAL_BASE + d + 3, MODE_PEEK)
    _fill(val, length, "0000000", EOL_SEEN, MODE_PEEK)  # EOL / EOFB (T.6 §2.4.1.1)
    # "0000001xxx" is the extension (uncompressed mode, T.4 §4.2.1.3.3): not supported, INVALID.
    return val, length


TERM_CODE, TERM_LEN, MAKEUP_CODE, MAKEUP_LEN = _encoder_arrays()
RUN_CODE, RUN_CODE_LEN = _combined_run_arrays(TERM_CODE, TERM_LEN, MAKEUP_CODE, MAKEUP_LEN)
RUN_VAL, RUN_LEN = _run_decoder_arrays()
MODE_VAL, MODE_LEN = _mode_decoder_arrays()

#: (code, length) of each vertical offset d = -3..3, indexed d + 3.
VERTICAL_CODE = np.array([int(VERTICAL_CODES[d], 2) for d in range(-3, 4)], np.int64)
VERTICAL_LEN = np.array([len(VERTICAL_CODES[d]) for d in range(-3, 4)], np.int64)
