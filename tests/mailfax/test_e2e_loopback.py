"""The built-in loopback line: `mailfax demo` and `mailfax serve` with no config file fax over
IAX2 on 127.0.0.1 and deliver the received fax as a PDF into the data directory's Maildir."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mailfax.config import StorageConfig
from mailfax.store import Store
from tests.support import mailfax_samples as samples
from tests.support.received_faxes import attachments, gs_pages, parse

ROOT = Path(__file__).resolve().parents[2]
HEADER_ROWS = 80   # the TTI line lives in the top ~8 mm of a fine page


def env_for(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MAILFAX_CONFIG"}
    env.update(HOME=str(tmp), XDG_DATA_HOME=str(tmp / "xdg"), PYTHONPATH=str(ROOT))
    return env


def check_delivery(message_path: Path, data_dir: Path) -> None:
    """The delivered mail carries a PDF whose pages are the job's pages (plus the TTI line)."""
    msg = parse(message_path.read_bytes())
    assert msg["Subject"].startswith("Fax from +1 555 0100")
    pdfs = [data for name, data in attachments(msg).items() if name.endswith(".pdf")]
    assert len(pdfs) == 1
    got = gs_pages(pdfs[0], 204, 196)
    store = Store.open(StorageConfig(data_dir, data_dir / "spool", data_dir / "queue.sqlite"))
    job = store.jobs()[0]
    sent = store.load_pages(job.id)
    assert len(got) == len(sent) == job.pages_confirmed
    for g, s in zip(got, sent):
        assert g.shape == s.rows.shape
        assert np.array_equal(g[HEADER_ROWS:], s.rows[HEADER_ROWS:])
        assert not np.array_equal(g[:HEADER_ROWS], s.rows[:HEADER_ROWS])  # the TTI line was drawn


def test_demo_round_trip(tmp_path):
    data = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "mailfax", "demo", "--data-dir", str(data), "--timeout", "150"],
                          env=env_for(tmp_path), capture_output=True, text=True, timeout=200, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = Path(proc.stdout.strip().splitlines()[-1])
    assert last.is_file() and last.parent == data / "Maildir" / "new"
    check_delivery(last, data)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("with_config", [False, True], ids=["no-config", "storage-only-config"])
def test_serve_without_trunk_uses_the_loopback_line(tmp_path, with_config):
    """No config file at all (as a user: the data dir is under XDG_DATA_HOME; as root it would
    be /var/lib/mailfax, so that variant is skipped there), or a config naming only the data
    directory: either way no trunk, so the loopback line and the Maildir are used."""
    if not _port_free(10025) or Path("/etc/mailfax/mailfax.yaml").exists():
        pytest.skip("127.0.0.1:10025 is in use (or a system config exists): the defaults cannot be used here")
    env = env_for(tmp_path)
    args = [sys.executable, "-m", "mailfax", "serve"]
    if with_config:
        data = tmp_path / "data"
        (tmp_path / "mailfax.yaml").write_text(f"storage: {{data_dir: {data}}}\n")
        args += ["--config", str(tmp_path / "mailfax.yaml")]
    elif os.getuid() == 0:
        pytest.skip("as root the default data directory is the machine's /var/lib/mailfax")
    else:
        data = tmp_path / "xdg" / "mailfax"
    log = open(tmp_path / "serve.log", "w")  # not a pipe: a full pipe would stall the server
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:10025" in line and "Maildir" in line, line
        msg = samples.message()
        msg.add_attachment(samples.pdf(seed=11), maintype="application", subtype="pdf", filename="a.pdf")
        with smtplib.SMTP("127.0.0.1", 10025, timeout=30) as s:
            s.send_message(msg, from_addr="alice@localhost", to_addrs=["+15555550199@fax.localhost"])
        new = data / "Maildir" / "new"
        deadline = time.monotonic() + 150
        found = []
        while time.monotonic() < deadline and not found:
            time.sleep(0.5)
            found = [p for p in new.glob("*") if b"\nSubject: Fax from" in b"\n" + p.read_bytes()[:4000]] \
                if new.is_dir() else []
        assert found, "no fax arrived in the Maildir"
        check_delivery(found[0], data)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-2000:]
