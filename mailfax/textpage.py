"""Plain UTF-8 text to PostScript pages with `paps` (Pango: ß, € and CJK render correctly).

Ghostscript's gslp.ps garbles UTF-8 and enscript turns € into ¤ (REFERENCE §2), so text is
laid out by paps in a monospaced font with margins, wrapped at the right margin, and the
PostScript it writes goes through the same Ghostscript path as any other PostScript.
"""

from __future__ import annotations

from mailfax import subproc
from mailfax.render_common import Limits

PAPS = "paps"
FONT = "Monospace 10"
MARGIN_PT = 54  # 3/4 inch: fax machines lose a few millimetres at each edge

#: papers paps knows; others are laid out on A4 and scaled onto the page by Ghostscript.
_PAPS_PAPERS = {"a4", "letter", "legal"}


def text_to_postscript(text: str, paper: str, limits: Limits) -> bytes:
    """PostScript for `text` laid out on `paper` (paps runs under `limits`)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cmd = [
        PAPS, f"--paper={paper if paper in _PAPS_PAPERS else 'a4'}", f"--font={FONT}",
        *(f"--{side}-margin={MARGIN_PT}" for side in ("top", "bottom", "left", "right")),
    ]
    return subproc.run(cmd, limits, "paps", text.encode("utf-8"))
