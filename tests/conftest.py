"""Fixtures shared by the whole suite: real mail servers on loopback (session-wide)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import mailservers

# Property tests are deterministic (a fixed derivation of examples per test, so CI and a
# developer see the same cases) and never fail for being slow on a busy machine: the
# time-based health check and deadline only measure the machine's load.
settings.register_profile("mailfax", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mailfax")


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
