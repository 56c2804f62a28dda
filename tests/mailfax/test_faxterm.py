"""`mailfax faxterm`: two processes fax each other over a FIFO pair, and faxterm
receives from spandsp's fax terminal over its stdin/stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.dsp.t30.pages import read_tiff, text_page, write_tiff

CMD = [sys.executable, "-m", "mailfax", "faxterm"]
ENV = {**os.environ, "PYTHONPATH": os.getcwd()}


def test_two_faxterms_over_fifos(tmp_path):
    a2b, b2a = tmp_path / "a2b", tmp_path / "b2a"
    os.mkfifo(a2b)
    os.mkfifo(b2a)
    doc = tmp_path / "doc.tif"
    page = text_page(60, 300)
    write_tiff(str(doc), [page])
    out = tmp_path / "out.tif"
    # The receiver starts first and the sender second; either order works.
    recv = subprocess.Popen(CMD + ["recv", str(out), "--in", str(a2b), "--out", str(b2a), "--ident", "RX"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    send = subprocess.run(CMD + ["send", str(doc), "--in", str(b2a), "--out", str(a2b), "--ident", "TX",
                                 "--no-ecm", "--max-rate", "9600"],
                          capture_output=True, env=ENV, timeout=300)
    r_out, r_err = recv.communicate(timeout=60)
    s_result = json.loads(send.stdout.decode().strip().splitlines()[-1])
    r_result = json.loads(r_out.decode().strip().splitlines()[-1])
    assert send.returncode == 0 and recv.returncode == 0, (send.stderr, r_err)
    assert s_result["status"] == "ok" and s_result["remote_ident"] == "RX"
    assert r_result == {**r_result, "status": "ok", "pages": 1, "bit_rate": 9600, "ecm": False,
                        "remote_ident": "TX", "completion": "OK"}
    assert 10 < r_result["seconds_audio"] < 60
    assert read_tiff(str(out))[0].same_pixels(page)


@pytest.mark.spandsp
def test_faxterm_receives_from_spandsp(tmp_path):
    from tests.support.spandsp_fax import SpandspFax

    pages = [text_page(61, 250)]
    tx_file = tmp_path / "tx.tif"
    write_tiff(str(tx_file), pages)
    out = tmp_path / "out.tif"
    proc = subprocess.Popen(CMD + ["recv", str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    sp = SpandspFax(True, tx_file=str(tx_file))
    lost_every = 97  # now and then tell faxterm a block was lost
    for n in range(8000 * 120 // 160):
        block = sp.transmit(160)
        if n % lost_every == 50:
            block = np.full(160, -32768, np.int16)
        try:
            proc.stdin.write(block.astype("<i2").tobytes())
            proc.stdin.flush()
        except BrokenPipeError:
            break
        theirs = proc.stdout.read(320)
        if len(theirs) < 320:
            break
        sp.receive(np.frombuffer(theirs, "<i2"))
    proc.stdin.close()
    proc.wait(timeout=60)
    result = json.loads(proc.stderr.read().decode().strip().splitlines()[-1])
    assert proc.returncode == 0 and result["status"] == "ok", result
    assert result["pages"] == 1 and result["ecm"] is True and result["remote_ident"] == "SPANDSP"
    assert sp.completion == 0
    assert read_tiff(str(out))[0].same_pixels(pages[0])
