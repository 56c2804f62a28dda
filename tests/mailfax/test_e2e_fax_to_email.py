"""Fax to email, end to end in real time: spandsp's fax terminal (bridged onto an IAX2 call
of ours by `tests.support.spandsp_iax`) and our own sending terminal each call the gateway's
IAX2 port at the same time; the gateway answers, stores each fax and delivers it into an
IMAP folder on the Dovecot fixture, where the PDF's pages equal the pages sent."""

from __future__ import annotations

import asyncio
import imaplib
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from mailfax.app import start_gateway
from mailfax.config import Trunk, load_config
from mailfax.received import DeliveryState
from mailfax.rules import load_rules
from mailfax.store import Store
from mailfax.telephony import Telephony
from mailfax.tiff import write_tiff_f
from tests.support.received_faxes import attachments, free_port, gs_pages, parse, real_pages
from tests.support.spandsp_iax import T30_ERR_OK, spandsp_call

pytestmark = [pytest.mark.servers, pytest.mark.spandsp]


def imap_messages(port: int, folder: str) -> list[bytes]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap.login("alice@mail.test", "secret")
        typ, _ = imap.select(f'"{folder}"')
        assert typ == "OK"
        _, data = imap.search(None, "ALL")
        out = []
        for num in data[0].split():
            _, got = imap.fetch(num, "(RFC822)")
            out.append(got[0][1])
        return out
    finally:
        imap.logout()


def write_configs(tmp: Path, iax_port: int, imap_port: int, folder: str) -> Path:
    (tmp / "rules.yaml").write_text(
        "outbound: []\n"
        f"inbound: [{{name: to-alice, deliver: {{imap: [{{host: 127.0.0.1, port: {imap_port}, "
        f"user: alice@mail.test, password: secret, folder: {folder}}}], formats: [pdf]}}}}]\n")
    (tmp / "mailfax.yaml").write_text(f"""
smtp: {{listen: "127.0.0.1:{free_port()}"}}
storage: {{data_dir: {tmp / 'gw'}}}
trunks:
  - {{name: pbx, host: 127.0.0.1, port: 4569, channels: 2, local_ident: "+1 555 0199"}}
iax: {{listen: "127.0.0.1:{iax_port}", ring_period: 1s}}
inbound: {{rings: 2}}
rules: rules.yaml
""")
    return tmp / "mailfax.yaml"


def test_spandsp_and_our_terminal_each_fax_into_an_imap_folder(tmp_path, dovecot):
    folder = f"Faxes-{uuid.uuid4().hex[:8]}"
    iax_port = free_port()
    config = load_config(write_configs(tmp_path, iax_port, dovecot.port, folder))
    pages = real_pages(1)
    tiff = tmp_path / "spandsp.tif"
    tiff.write_bytes(write_tiff_f(pages))
    store = Store.open(config.storage)

    async def main():
        gw = await start_gateway(config, load_rules(None, config), store, poll=0.2)
        caller = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
        ours = Trunk(name="to-gw", host="127.0.0.1", port=iax_port, caller_id="15550123", local_ident="+1 555 0123")
        try:
            theirs, mine = await asyncio.gather(
                spandsp_call(("127.0.0.1", iax_port), "5550199", tx_file=str(tiff), caller_id="15550777",
                             ident="+1 555 0777"),
                caller.send_fax(ours, "5550199", pages))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                delivered = [d for d in gw.inbound.store.deliveries() if d.state is DeliveryState.DELIVERED]
                if len(delivered) == 2:
                    break
                await asyncio.sleep(0.3)
            return theirs, mine, gw.inbound.store.faxes()
        finally:
            await caller.close()
            await gw.stop()

    theirs, mine, faxes = asyncio.run(main())
    assert theirs.completion == T30_ERR_OK and theirs.pages_tx == 1
    assert mine.completion is not None and mine.completion.name == "OK" and mine.pages_sent == 1
    assert len(faxes) == 2
    msgs = [parse(raw) for raw in imap_messages(dovecot.port, folder)]
    assert sorted(m["Subject"].split(",")[0] for m in msgs) == ["Fax from +1 555 0123", "Fax from +1 555 0777"]
    for m in msgs:
        (pdf,) = [v for k, v in attachments(m).items() if k.endswith(".pdf")]
        got = gs_pages(pdf, 204, 196)
        assert len(got) == 1
        assert np.array_equal(got[0], pages[0].rows)
