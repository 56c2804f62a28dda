"""Session logs of both ends of one call, under injected time (two of our endpoints over the
in-memory network of tests.iax.pair, as in test_faxcall): every frame in order with its
media time, the training result, the pages, the end."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace

from mailfax.faxcall import TICK
from mailfax.sessionlog import SessionLogs
from tests.mailfax.test_faxcall import Line, sample_page

T0 = 1_700_000_000.0


@dataclass
class Live:
    """What the telephony layer keeps per call (the fields the logs read)."""

    bridge: object
    incoming: object = None
    trunk: object = None
    started_at: float = T0


def run_logged(line: Line, logs: SessionLogs, limit: float = 120.0) -> None:
    lives: dict[int, Live] = {}
    k = 0
    while k * TICK < limit:
        t = k * TICK
        line.net.run_until(t)
        line._dispatch()
        if line.call_a not in lives:
            lives[line.call_a] = Live(line.tx, trunk=SimpleNamespace(name="t1"))
        if line.rx is not None and line.rx.call + 1000 not in lives:
            lives[line.rx.call + 1000] = Live(line.rx, incoming=SimpleNamespace(
                calling_number="5550100", calling_name="Office", called_number="5550199"))
        for bridge in (line.tx, line.rx):
            if bridge is not None:
                bridge.tick(t)
        line.net.flush()
        logs.follow({c: live for c, live in lives.items() if not live.bridge.finished}, t)
        if line.tx.finished and (line.rx is None or line.rx.finished):
            break
        k += 1
    logs.follow({}, k * TICK)


def events(text: str) -> list[tuple[float, str]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"(\d\d):(\d\d):(\d\d\.\d\d) (.*)", line)
        if m:
            out.append((int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]), m[4]))
    return out


def test_both_ends_logged(tmp_path):
    line = Line([sample_page(1), sample_page(2)])
    logs = SessionLogs(tmp_path, clock=lambda: T0)
    run_logged(line, logs)
    tx_path, rx_path = sorted(tmp_path.iterdir())
    assert [tx_path.name, rx_path.name] == ["c00000001", "c00000002"]
    tx, rx = tx_path.read_text(), rx_path.read_text()
    assert tx.startswith("SESSION c00000001: SEND call") and "on trunk t1" in tx
    assert "CALLER 5550100 (Office), CALLED 5550199" in rx

    tx_ev = events(tx)
    times = [t for t, _ in tx_ev]
    assert times == sorted(times)  # media time only grows
    said = [e for _, e in tx_ev if e.startswith(("SEND ", "RECV "))]
    # T.30 flow of a 2-page ECM call from the caller's side (T.30 figure 5.2), in order
    assert said.index("RECV DIS") < said.index("SEND DCS") < said.index("RECV CFR") < said.index("RECV MCF")
    assert said[-2:] == ["RECV MCF", "SEND DCN"]
    assert "TRAINING v17 14400 bit/s: trained" in [e for _, e in tx_ev]
    assert [e for _, e in tx_ev if e.startswith("PAGE ")] == ["PAGE 1 SENT (confirmed)", "PAGE 2 SENT (confirmed)"]
    assert any(e.startswith('NEGOTIATED remote ident "+1 555 0199", v17 14400 bit/s, ecm True') for _, e in tx_ev)
    assert tx_ev[-1][1].startswith("SESSION END OK; line: ")
    assert "pages sent 2, received 0" in tx_ev[-1][1]

    rx_ev = [e for _, e in events(rx)]
    assert rx_ev.count("PAGE RECEIVED 1728x300 rows, 0 bad, 14400 bit/s, ECM") == 2
    assert "SEND DIS" in rx_ev and "RECV DCS" in rx_ev and "SEND CFR" in rx_ev
    assert rx_ev[-1].startswith("SESSION END OK;") and "received 2" in rx_ev[-1]


def test_numbering_continues_after_a_restart(tmp_path):
    (tmp_path / "c00000041").write_text("an older log\n")
    (tmp_path / "notes").write_text("not a log\n")
    logs = SessionLogs(tmp_path, clock=lambda: T0)
    line = Line([sample_page(3, rows=60)])
    run_logged(line, logs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c00000041", "c00000042", "c00000043", "notes"]
