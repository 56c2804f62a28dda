"""`mailfax convert` as a subprocess: exit codes, one-line errors, every output type."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mailfax import tiff
from mailfax.render import render
from tests.mailfax.fixtures.docs import PAPER_POINTS, box_postscript, encrypt_pdf, pdf_from_postscript

LETTER = "mailfax sample\nGrüße aus Berlin — 1.234,56 €\n日本語のテキスト\n"


def convert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailfax", "convert", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def letter(tmp_path) -> Path:
    path = tmp_path / "letter.txt"
    path.write_text(LETTER, encoding="utf-8")
    return path


def test_text_to_tiff_to_pdf_like_scripts_run(tmp_path, letter):
    tif, pdf = tmp_path / "letter.tif", tmp_path / "letter.pdf"
    done = convert(str(letter), "-o", str(tif), "--resolution", "fine")
    assert (done.returncode, done.stderr) == (0, "")
    image, = tiff.read_tiff(tif.read_bytes())
    assert (image.width, image.height, image.compression, round(image.y_dpi)) == (1728, 2292, 3, 196)
    done = convert(str(tif), "-o", str(pdf))
    assert (done.returncode, done.stderr) == (0, "")
    assert render(pdf.read_bytes(), resolution="fine")[0].same_pixels(render(tif.read_bytes())[0])


def test_several_inputs_make_one_document(tmp_path, letter):
    ps = tmp_path / "two.ps"
    ps.write_bytes(box_postscript(PAPER_POINTS["letter"], [(72, 72, 72, 72)], pages=2))
    out = tmp_path / "all.tiff"
    done = convert(str(letter), str(ps), "-o", str(out), "--paper", "letter", "--resolution", "standard",
                   "--compression", "mmr")
    assert done.returncode == 0, done.stderr
    images = tiff.read_tiff(out.read_bytes())
    assert [(i.compression, i.height, round(i.y_dpi)) for i in images] == [(4, 1078, 98)] * 3


@pytest.mark.parametrize("suffix,magic", [(".ps", b"%!PS"), (".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_output_type_by_suffix(tmp_path, letter, suffix, magic):
    out = tmp_path / f"out{suffix}"
    assert convert(str(letter), "-o", str(out), "--paper", "b4").returncode == 0
    assert out.read_bytes().startswith(magic)
    if suffix == ".png":
        assert Image.open(io.BytesIO(out.read_bytes())).width == 256


def test_failure_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "secret.pdf"
    bad.write_bytes(encrypt_pdf(pdf_from_postscript(box_postscript((595, 842), [(72, 72, 72, 72)])), "pw"))
    out = tmp_path / "x.pdf"
    done = convert(str(bad), "-o", str(out))
    assert done.returncode == 1
    assert done.stderr == f"mailfax convert: {bad}: PDF is encrypted and needs a password\n"
    assert not out.exists()


def test_truncated_pdf_gives_exactly_one_line(tmp_path):
    pdf = pdf_from_postscript(box_postscript((595, 842), [(72, 72, 72, 72)], pages=3))
    bad = tmp_path / "cut.pdf"
    bad.write_bytes(pdf[: len(pdf) // 2])
    done = convert(str(bad), "-o", str(tmp_path / "x.tif"))
    assert done.returncode == 1
    assert done.stderr.startswith(f"mailfax convert: {bad}: PDF is damaged or truncated")
    assert done.stderr.count("\n") == 1


def test_missing_input_and_empty_input(tmp_path):
    done = convert(str(tmp_path / "nope.txt"), "-o", str(tmp_path / "x.pdf"))
    assert (done.returncode, done.stderr) == (1, f"mailfax convert: {tmp_path / 'nope.txt'}: No such file or directory\n")
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    done = convert(str(empty), "-o", str(tmp_path / "x.pdf"))
    assert (done.returncode, done.stderr) == (1, f"mailfax convert: {empty}: file is empty\n")


def test_usage_errors_exit_2(tmp_path, letter):
    done = convert(str(letter), "-o", str(tmp_path / "x.docx"))
    assert done.returncode == 2 and done.stderr.endswith("unknown output type (use .pdf, .tif, .tiff, .ps or .png)\n")
    assert convert(str(letter)).returncode == 2
    assert convert(str(letter), "-o", "x.pdf", "--resolution", "ultra").returncode == 2
