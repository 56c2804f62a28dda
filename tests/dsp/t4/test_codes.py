"""The code tables against T.4 Tables 2-4: sizes, spot values, prefix-freeness, lookup tables."""

import itertools

import numpy as np

from dsp.t4 import codes


def _prefix_free(words: list[str]) -> bool:
    return not any(a != b and b.startswith(a) for a, b in itertools.permutations(words, 2))


def test_table_sizes_and_spot_values():
    assert len(codes.WHITE_TERMINATING) == len(codes.BLACK_TERMINATING) == 64
    assert len(codes.WHITE_MAKEUP) == len(codes.BLACK_MAKEUP) == 27
    assert len(codes.EXTENDED_MAKEUP) == 13
    white, black = codes.run_codes(codes.WHITE), codes.run_codes(codes.BLACK)
    # Spot values read from T.4 Tables 2 and 3.
    assert white[0] == "00110101" and white[63] == "00110100" and white[1728] == "010011011"
    assert black[0] == "0000110111" and black[2] == "11" and black[1728] == "0000001100101"
    assert white[1792] == black[1792] == "00000001000" and white[2560] == "000000011111"


def test_codes_are_prefix_free_and_never_look_like_eol():
    for colour in (codes.WHITE, codes.BLACK):
        words = list(codes.run_codes(colour).values())
        assert _prefix_free(words + [codes.EOL])
        assert all("0" * 8 not in w for w in words)  # no code can fake the 11 zeros of EOL
    modes = [codes.PASS_CODE, codes.HORIZONTAL_CODE, *codes.VERTICAL_CODES.values()]
    assert _prefix_free(modes + ["0000001"])


def test_lookup_tables_return_each_code():
    for colour in (codes.WHITE, codes.BLACK):
        for run, word in codes.run_codes(colour).items():
            idx = int(word.ljust(codes.RUN_PEEK, "1"), 2)
            assert codes.RUN_VAL[colour, idx] == run and codes.RUN_LEN[colour, idx] == len(word)
        assert codes.RUN_VAL[colour, 1] == codes.EOL_SEEN
    for d, word in codes.VERTICAL_CODES.items():
        idx = int(word.ljust(codes.MODE_PEEK, "0"), 2)
        assert codes.MODE_VAL[idx] == codes.MODE_VERTICAL_BASE + d + 3
    assert codes.MODE_VAL[0] == codes.EOL_SEEN
    assert np.flatnonzero(codes.MODE_VAL == codes.INVALID).tolist() == [1]  # 0000001: the extension
