"""Call audio recording (mailfax.recording): real fax calls between two of our gateways over
IAX2 on 127.0.0.1 with ``recording:`` on; the WAVs are read back with the stdlib `wave`."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np

from dsp.fax import FaxTerminal
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from mailfax.config import Trunk, load_config
from mailfax.inbound import InboundService
from mailfax.maildir import MaildirMailer
from mailfax.received import ReceivedStore
from mailfax.recording import Recorder, RecordingTerminal, recording_name
from mailfax.rules import load_rules
from mailfax.rules_in import inbound_rules
from mailfax.telephony import Telephony
from tests.mailfax.test_faxcall import sample_page

T0 = 1_700_000_000.0


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(frame rate, samples as (n, 2) int16) after checking the format: stereo 16-bit PCM."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getcomptype()) == (2, 2, "NONE")
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)


def band_share(x: np.ndarray, lo: float, hi: float) -> float:
    """Share of the signal's energy between lo and hi Hz."""
    spec = np.abs(np.fft.rfft(x.astype(float))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 8000)
    return float(spec[(f >= lo) & (f <= hi)].sum() / max(spec.sum(), 1e-9))


def config_for(tmp: Path, name: str, recording: str, rules: str = ""):
    d = tmp / name
    d.mkdir()
    (d / "rules.yaml").write_text("outbound: []\n" + rules)
    (d / "m.yaml").write_text(f"storage: {{data_dir: {d / 'data'}}}\nrules: rules.yaml\n{recording}\n")
    return load_config(d / "m.yaml")


async def answerer(config, tmp: Path):
    inbound = InboundService(config, inbound_rules(load_rules(config.rules_file, config), config),
                             ReceivedStore.open(config.storage), MaildirMailer(tmp / "md"))
    callers = (Trunk(name="c", host="127.0.0.1", port=0, channels=2, local_ident="+1 555 0199"),)
    return await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=callers)


def test_recording_terminal_keeps_both_directions_aligned_per_tick(tmp_path):
    """Heard then said, per tick: a lost block is silence, a short transmit is padded, so
    sample k of both channels is the same instant; `calls: all` keeps the file."""
    rec_dir = tmp_path / "rec"
    recorder = Recorder(rec_dir, clock=lambda: T0)
    a = FaxTerminal(SessionConfig(calling=True, pages=(sample_page(1, rows=40),), capabilities=Capabilities()))
    b = RecordingTerminal(FaxTerminal(SessionConfig(calling=False)), recorder.start(7, incoming=True, number="+49 30 1"))
    heard, said = [], []
    y = np.zeros(160, np.int16)
    for k in range(400):
        x = a.transmit(160)
        if k % 37 == 5:
            b.fillin(160)                    # a lost 20 ms
            heard.append(np.zeros(160, np.int16))
        else:
            b.receive(x)
            heard.append(x)
        y = b.transmit(160)
        said.append(np.resize(y, 160) if len(y) == 160 else np.pad(y, (0, 160 - len(y))))
        a.receive(y)
    assert b.samples_in == 400 * 160 and b.session is b.terminal.session   # the rest is the terminal's
    path = recorder.finish(b.recording, ok=True)
    recorder.close()
    assert path == rec_dir / "20231114-221320-call7-in-+49301.wav" == rec_dir / recording_name(T0, 7, True, "+49 30 1")
    rate, wav = read_wav(path)
    assert rate == 8000 and wav.shape == (400 * 160, 2)
    assert np.array_equal(wav[:, 0], np.concatenate(heard)) and np.array_equal(wav[:, 1], np.concatenate(said))
    assert b.recording.lost_blocks == len([k for k in range(400) if k % 37 == 5])


def test_recording_stops_at_max_length(tmp_path):
    recorder = Recorder(tmp_path, max_length=1.0, clock=lambda: T0)
    term = RecordingTerminal(FaxTerminal(SessionConfig(calling=False)), recorder.start(1, incoming=True, number=""))
    for _ in range(100):                        # 2 s of media
        term.receive(np.full(160, 1000, np.int16))
        term.transmit(160)
    path = recorder.finish(term.recording, ok=False)
    recorder.close()
    assert read_wav(path)[1].shape == (8000, 2) and term.recording.truncated


def test_real_call_recorded_both_ways(tmp_path):
    """One page over IAX2 (A-law) on loopback, both gateways recording: each WAV is 8 kHz
    stereo as long as the call's media time; each side's sent channel carries its fax
    signals (V.21 at 1650/1850 Hz, V.17 around 1800 Hz, CED at 2100 Hz for the answerer) and
    its heard channel is the other side's sent channel, G.711 and the playout delay apart."""
    rec = "recording: {enabled: true}"

    async def main():
        phone = await answerer(config_for(tmp_path, "b", rec), tmp_path)
        caller = await Telephony.open(config_for(tmp_path, "a", rec), host="127.0.0.1", port=0, trunks=())
        trunk = Trunk(name="t", host="127.0.0.1", port=phone.address[1], local_ident="+1 555 0100")
        try:
            res = await asyncio.wait_for(caller.send_fax(trunk, "5550199", [sample_page(1)]), 90)
            for _ in range(100):
                if not phone.calls:
                    break
                await asyncio.sleep(0.05)
            return res, phone.recorder.kept
        finally:
            await caller.close()
            await phone.close()

    res, answer_kept = asyncio.run(main())
    assert res.ok and res.pages_sent == 1
    out = Path(res.recording)
    assert out.parent == tmp_path / "a" / "data" / "recordings" and out.name.endswith("-out-5550199.wav")
    assert Path(res.session_log).is_file() and "SESSION END OK" in Path(res.session_log).read_text()
    assert len(answer_kept) == 1 and answer_kept[0].name.endswith("-in-unknown.wav")  # no caller ID sent
    rate, a = read_wav(out)
    _, b = read_wav(answer_kept[0])
    assert rate == 8000
    assert abs(len(a) - res.seconds * 8000) <= 2 * 160          # the call's media time, within two ticks
    for side in (a, b):
        for ch in (0, 1):
            assert np.sqrt(np.mean(side[:, ch].astype(float) ** 2)) > 300   # both channels carry signal
        assert band_share(side[:, 1], 500, 3100) > 0.95                # CNG/CED, V.21, V.17 (1800 Hz ± 1.2 kHz)
    assert band_share(b[:8000, 1], 2050, 2150) > 0.5                   # the answerer opens with CED
    # the caller heard what the answerer said (A-law, a constant delay): correlate 4 s
    seg = b[8000:40000, 1].astype(float)
    best = max(range(0, 4000, 1), key=lambda d: float(np.dot(seg[:20000], a[8000 + d:28000 + d, 0])))
    got = a[8000 + best:28000 + best, 0].astype(float)
    r = np.dot(seg[:20000], got) / np.sqrt(np.dot(seg[:20000], seg[:20000]) * np.dot(got, got))
    assert r > 0.95 and 0 < best < 2400       # the playout buffer's 100 ms and a tick or two


def test_calls_failed_keeps_only_the_failed_calls(tmp_path):
    """``calls: failed``: a good call leaves no WAV; a call refused by TSI rule keeps its WAV."""
    rec = "recording: {enabled: true, calls: failed}"

    async def main():
        good = await answerer(config_for(tmp_path, "good", ""), tmp_path)
        bad = await answerer(config_for(tmp_path, "bad", "", "inbound: [{name: junk, match: {tsi: ['+1 555 0100']}, "
                                                             "reject: true}]\n"), tmp_path)
        caller = await Telephony.open(config_for(tmp_path, "a", rec), host="127.0.0.1", port=0, trunks=())
        try:
            calls = [caller.send_fax(Trunk(name=n, host="127.0.0.1", port=p.address[1], local_ident="+1 555 0100"),
                                     n, [sample_page(2, rows=120)]) for n, p in (("1", good), ("2", bad))]
            return await asyncio.wait_for(asyncio.gather(*calls), 90), caller.recorder
        finally:
            await caller.close()
            await good.close()
            await bad.close()

    (ok, refused), recorder = asyncio.run(main())
    assert ok.ok and not refused.ok
    assert ok.recording == "" and len(recorder.deleted) == 1 and not recorder.deleted[0].exists()
    assert Path(refused.recording).is_file() and recorder.kept == [Path(refused.recording)]
    assert [p.name for p in (tmp_path / "a" / "data" / "recordings").iterdir()] == [Path(refused.recording).name]
    assert read_wav(Path(refused.recording))[1].shape[0] > 8000   # phase B was reached: seconds of audio
    assert Path(ok.session_log).is_file() and Path(refused.session_log).is_file()
