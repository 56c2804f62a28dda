"""Interop over IAX2/UDP in real time with spandsp's fax terminal at the far end, both ways and
without ECM: our telephony sends to spandsp answering, and answers spandsp calling."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mailfax.config import Trunk
from mailfax.tiff import write_tiff_f
from tests.mailfax.test_telephony import _answerer
from tests.support.received_faxes import pillow_tiff_pages, real_pages
from tests.support.spandsp_iax import T30_ERR_OK, SpandspAnswerer, spandsp_call

pytestmark = pytest.mark.spandsp


@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
def test_we_send_spandsp_receives(tmp_path, ecm):
    from mailfax.config import load_config
    from mailfax.telephony import Telephony

    pages = real_pages(1)
    rx = tmp_path / "rx.tif"
    (tmp_path / "m.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\n")

    async def main():
        far = SpandspAnswerer(str(rx), ecm=ecm)
        addr = await far.start()
        phone = await Telephony.open(load_config(tmp_path / "m.yaml"), host="127.0.0.1", port=0, trunks=())
        try:
            trunk = Trunk(name="s", host=addr[0], port=addr[1], local_ident="+1 555 0100")
            res = await asyncio.wait_for(phone.send_fax(trunk, "5550199", pages), 120)
            await asyncio.wait_for(far.done, 10)
            return res, far
        finally:
            await phone.close()
            await far.close()

    res, far = asyncio.run(main())
    assert res.completion is not None and res.completion.name == "OK" and res.pages_sent == 1
    assert res.stats.remote_ident.strip() == "SPANDSP RX" and res.stats.ecm is ecm
    assert far.fax is not None and far.fax.completion == T30_ERR_OK
    (got,) = pillow_tiff_pages(rx.read_bytes())
    assert np.array_equal(got, pages[0].rows)


def test_spandsp_sends_without_ecm_we_answer_and_store(tmp_path):
    pages = real_pages(1)
    tif = tmp_path / "tx.tif"
    tif.write_bytes(write_tiff_f(pages))

    async def main():
        phone, store, _ = await _answerer(tmp_path, "")
        try:
            theirs = await spandsp_call(phone.address, "5550199", tx_file=str(tif), ecm=False, caller_id="777",
                                        ident="SPANDSP TX")
            for _ in range(50):
                if store.faxes():
                    break
                await asyncio.sleep(0.1)
            return theirs, [store.load(f.id) for f in store.faxes()]
        finally:
            await phone.close()

    theirs, faxes = asyncio.run(main())
    assert theirs.completion == T30_ERR_OK and theirs.pages_tx == 1
    (fax,) = faxes
    assert fax.tsi == "SPANDSP TX" and fax.caller_id == "777" and not fax.ecm and fax.completion == "OK"
    assert fax.pages[0].same_pixels(pages[0])
