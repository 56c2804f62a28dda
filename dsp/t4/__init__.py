"""T.4/T.6 image coding (MH, MR, MMR) and the `Page` type."""

from dsp.t4.page import RESOLUTIONS, Page

__all__ = ["Page", "RESOLUTIONS"]
