"""Several calls at once, both ways, in real time over IAX2/UDP on 127.0.0.1: two gateways'
telephony layers each send 4 faxes to the other while answering the other's 4; every call
completes, every page arrives pixel-equal and is stored, and the media clocks stay on time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mailfax.config import Trunk, load_config
from mailfax.inbound import InboundService
from mailfax.maildir import MaildirMailer
from mailfax.received import ReceivedStore
from mailfax.rules import load_rules
from mailfax.rules_in import inbound_rules
from mailfax.telephony import Telephony
from tests.mailfax.test_faxcall import sample_page

N = 4


async def side(tmp: Path, name: str, ident: str):
    d = tmp / name
    d.mkdir()
    (d / "m.yaml").write_text(f"storage: {{data_dir: {d / 'data'}}}\n")
    config = load_config(d / "m.yaml")
    store = ReceivedStore.open(config.storage)
    inbound = InboundService(config, inbound_rules(load_rules(None, config), config), store, MaildirMailer(d / "md"))
    peers = (Trunk(name="peer", host="127.0.0.1", port=0, channels=N, local_ident=ident),)
    return await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=peers), store


def test_four_calls_each_way_at_once(tmp_path):
    async def main():
        (a, store_a), (b, store_b) = await side(tmp_path, "a", "+1 555 0001"), await side(tmp_path, "b", "+1 555 0002")
        to_b = Trunk(name="b", host="127.0.0.1", port=b.address[1], caller_id="1", local_ident="+1 555 0001")
        to_a = Trunk(name="a", host="127.0.0.1", port=a.address[1], caller_id="2", local_ident="+1 555 0002")
        try:
            calls = [a.send_fax(to_b, f"20{i}", [sample_page(10 + i)]) for i in range(N)]
            calls += [b.send_fax(to_a, f"10{i}", [sample_page(20 + i)]) for i in range(N)]
            results = await asyncio.wait_for(asyncio.gather(*calls), 120)
            for _ in range(50):
                if len(store_a.faxes()) == N and len(store_b.faxes()) == N:
                    break
                await asyncio.sleep(0.1)
            return results, store_a, store_b, a.media.summary(), b.media.summary()
        finally:
            await a.close()
            await b.close()

    results, store_a, store_b, clock_a, clock_b = asyncio.run(main())
    print(json.dumps({"clock_a": clock_a, "clock_b": clock_b}))
    assert [r.completion.name if r.completion else None for r in results] == ["OK"] * (2 * N)
    assert all(r.pages_sent == 1 for r in results)
    for store, seeds in ((store_b, range(10, 10 + N)), (store_a, range(20, 20 + N))):
        got = {store.load(f.id).called: store.load(f.id).pages for f in store.faxes()}
        assert len(got) == N
        for i, seed in enumerate(seeds):
            (page,) = got[f"{'20' if seeds[0] == 10 else '10'}{i}"]
            assert page.same_pixels(sample_page(seed))
    # one process carries 16 terminals; with the fax engine warmed up before the first call,
    # ticks stay well within the far ends' playout delay (100 ms; a longer stall is lost audio)
    assert clock_a["p99_ms"] < 60 and clock_b["p99_ms"] < 60
