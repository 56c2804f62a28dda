"""Fixtures shared by the whole suite: real mail servers on loopback (session-wide)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support import mailservers


@pytest.fixture(scope="session")
def postfix():
    """The machine's Postfix, configured for mail.test Maildirs and a listener on :2525."""
    reason = mailservers.available()
    if reason:
        pytest.skip(reason)
    server = mailservers.Postfix()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot(postfix):
    """A standalone Dovecot IMAP on 127.0.0.1:1143 over the same Maildirs."""
    workdir = Path(tempfile.mkdtemp(prefix="mailfax-dovecot-", dir="/var/tmp"))
    workdir.chmod(0o755)  # Dovecot's auth process runs as user dovecot and reads files here
    server = mailservers.Dovecot(workdir)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
