"""Raster images (PNG, JPEG, GIF, BMP and non-fax TIFF) to fax pages with Pillow.

Each image is checked for its pixel count from the header before any pixel is decoded, so
a small file that would decompress to gigapixels is refused at once.  It is then turned
upright (EXIF orientation), flattened on white if it has transparency, scaled to fit the
page's printable area (keeping its aspect ratio, scaling x and y separately for the
non-square fax pels, and never enlarged past its own physical size), dithered to bilevel
(Floyd-Steinberg) and centred on the page.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, ImageSequence

from dsp.t4.page import Page
from mailfax.pagesize import Geometry
from mailfax.render_common import Limits, RenderError

MARGIN_INCHES = 0.2
#: Resolution assumed for images that do not state one (typical of screenshots and logos).
DEFAULT_DPI = 96.0


def image_pages(data: bytes, geo: Geometry, limits: Limits, *, all_frames: bool = False) -> list[Page]:
    """Pages for an image file; `all_frames` renders every frame (multi-page TIFF), else the first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:  # Pillow's own guard fired first (> 179 Mpx)
            m = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(m.group(1)) / 1e6:.0f} megapixels" if m else "too many pixels"
            raise RenderError(f"image is {size}, more than the limit of {limits.max_pixels / 1e6:.0f} megapixels") from None
        except Exception as exc:
            raise RenderError(f"cannot read image: {_short(exc)}") from None
        pages = []
        frames = ImageSequence.Iterator(im) if all_frames else [im]
        for number, frame in enumerate(frames, 1):
            if number > limits.max_pages:
                raise RenderError(f"image has more than {limits.max_pages} pages")
            _check_size(frame, limits)
            try:
                pages.append(_frame_page(frame, geo))
            except RenderError:
                raise
            except Exception as exc:  # truncated or corrupt pixel data
                raise RenderError(f"cannot decode image: {_short(exc)}") from None
    return pages


def bilevel_pages(data: bytes, resolutions: list[tuple[int, int]]) -> list[Page]:
    """Pages of a bilevel multi-page TIFF already at fax size, pixel for pixel (no fitting).

    For fax TIFFs that dsp.t4 does not decode (CCITT RLE, uncompressed, PackBits): libtiff
    reads them, and each page keeps its own resolution.
    """
    try:
        im = Image.open(io.BytesIO(data))
        pages = []
        for frame, (x_res, y_res) in zip(ImageSequence.Iterator(im), resolutions):
            ink = ~np.asarray(frame.convert("1"), dtype=bool)
            pages.append(Page(ink.astype(np.uint8), x_res, y_res))
    except Exception as exc:
        raise RenderError(f"cannot decode TIFF: {_short(exc)}") from None
    return pages


def _check_size(im: Image.Image, limits: Limits) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise RenderError(f"image has an empty size {w} x {h}")
    if w * h > limits.max_pixels:
        raise RenderError(
            f"image is {w} x {h} pixels ({w * h / 1e6:.0f} megapixels), more than the limit of "
            f"{limits.max_pixels / 1e6:.0f} megapixels"
        )


def _frame_page(im: Image.Image, geo: Geometry) -> Page:
    dpi = _image_dpi(im)
    im = ImageOps.exif_transpose(im)
    grey = _flatten_to_grey(im)
    # Printable area in inches and the image's own physical size.
    area_w = geo.width / geo.x_res - 2 * MARGIN_INCHES
    area_h = geo.height / geo.y_res - 2 * MARGIN_INCHES
    img_w, img_h = grey.width / dpi[0], grey.height / dpi[1]
    scale = min(area_w / img_w, area_h / img_h, 1.0)
    out_w = max(1, min(geo.width, round(img_w * scale * geo.x_res)))
    out_h = max(1, min(geo.height, round(img_h * scale * geo.y_res)))
    if (out_w, out_h) != grey.size:
        grey = grey.resize((out_w, out_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    bilevel = grey.convert("1")  # Floyd-Steinberg dithering
    ink = ~np.asarray(bilevel, dtype=bool)
    rows = np.zeros((geo.height, geo.width), dtype=np.uint8)
    top, left = (geo.height - out_h) // 2, (geo.width - out_w) // 2
    rows[top:top + out_h, left:left + out_w] = ink
    return Page(rows, geo.x_res, geo.y_res)


def _flatten_to_grey(im: Image.Image) -> Image.Image:
    """Greyscale image with any transparency composited onto white."""
    if im.mode == "1":
        return im.convert("L")
    if im.mode == "P" and "transparency" in im.info or im.mode in ("PA", "La"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "RGBa"):
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im.convert("RGBA")).convert("L")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() or 1.0
        return Image.fromarray((arr / top * 255).astype(np.uint8), "L")
    return im.convert("L")


def _image_dpi(im: Image.Image) -> tuple[float, float]:
    dpi = im.info.get("dpi")
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return DEFAULT_DPI, DEFAULT_DPI
    if not (20 <= x <= 5000 and 20 <= y <= 5000):
        return DEFAULT_DPI, DEFAULT_DPI
    return x, y


def _short(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]
