"""Postfix's ``sendmail`` to ``NUMBER@<fax domain>`` becomes a fax job, on both integration paths
of contrib/postfix (needs root: the machine's Postfix is reconfigured; marker ``servers``).

(a) A transport map sends the domain to mailfax's SMTP listener (started here on a free
    port).  A 451 (the spool broken for a moment) is deferred by Postfix and delivered after
    ``postqueue -f``; a 550 at RCPT bounces to the sender's Maildir.
(b) A ``pipe`` transport runs ``mailfax enqueue`` as a non-root user.  Exit 75 (the data
    directory not writable by that user) is deferred and delivered after the fix; exit 77
    (a premium number) bounces with enqueue's reason.

The pipe user cannot execute this checkout's venv interpreter (it lives under /root, mode
0700), so `pipe_runtime` builds a small venv from the system Python 3.11 that loads the
project venv's packages: ``<runtime>/bin/mailfax`` is what an installed venv would provide.
"""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from mailfax.config import load_config
from mailfax.jobs import JobState
from mailfax.rules import load_rules
from mailfax.smtp_in import FaxHandler, smtp_kwargs
from mailfax.store import Store
from tests.support import mailfax_samples as samples
from tests.support import mailservers
from tests.support.smtp_controller import FaxController

pytestmark = pytest.mark.servers

SMTP_DOMAIN = "smtpfax.test"
PIPE_DOMAIN = "pipefax.test"
PIPE_USER = "mailfax"
PIPE_SERVICE = "mailfax"
CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "postfix"
SENDER = f"sender@{mailservers.MAIL_DOMAIN}"


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sendmail(to: str, tag: str, attachment: str = "doc.txt") -> None:
    """Submit through Postfix's own sendmail(1), as a local user or a script would."""
    msg = samples.message(attachment, sender=SENDER, to=to, subject=f"fax {tag}", message_id=f"<{tag}@mail.test>")
    subprocess.run(["sendmail", "-f", SENDER, "--", to], input=samples.wire(msg).replace(b"\r\n", b"\n"),
                   check=True, timeout=30)


def bounces(tag: str) -> list[email.message.EmailMessage]:
    """Non-delivery reports in the sender's Maildir about the message tagged ``tag``."""
    found = []
    for p in mailservers.maildir_messages("sender"):
        text = p.read_text(errors="replace")
        if tag in text and "Undelivered Mail" in text:
            found.append(email.message_from_bytes(p.read_bytes(), policy=email.policy.default))
    return found


def config_text(domain: str, data: Path, port: int | None = None) -> str:
    listen = f"smtp: {{listen: 127.0.0.1:{port}}}\n" if port else ""
    return (f"{listen}fax: {{domains: [{domain}]}}\n"
            f'dialing: {{country_code: "49", area_code: "30"}}\nstorage: {{data_dir: {data}}}\n')


def _lines(name: str) -> list[str]:
    """A contrib/postfix file without comments, continuation lines joined (master.cf syntax)."""
    out: list[str] = []
    for line in (CONTRIB / name).read_text().splitlines():
        line = line.split("#", 1)[0].rstrip() if line.lstrip().startswith("#") else line.rstrip()
        if not line:
            continue
        if line[0].isspace() and out:
            out[-1] += " " + line.strip()
        else:
            out.append(" ".join(line.split()))
    return out


def contrib_master_entry() -> str:
    [entry] = [line for line in _lines("master.cf") if line.startswith(f"{PIPE_SERVICE} unix")]
    return entry


def contrib_main_settings() -> dict[str, str]:
    """The pipe's main.cf parameters (relay_domains and transport_maps the fixture sets itself)."""
    pairs = (line.split("=", 1) for line in _lines("main.cf") if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if k.strip().startswith(f"{PIPE_SERVICE}_")}


def contrib_transport(kind: str) -> str:
    """The transport of the contrib/transport line (commented or not) that starts with ``kind``."""
    for line in (CONTRIB / "transport").read_text().splitlines():
        fields = line.lstrip("#").split()
        if len(fields) == 2 and fields[0] == "fax.example.com" and fields[1].startswith(kind):
            return fields[1]
    raise AssertionError(f"contrib/postfix/transport has no {kind} line")


def test_contrib_lines_are_complete():
    assert contrib_master_entry().startswith(f"{PIPE_SERVICE} unix - n n - - pipe flags=Rq user=")
    assert "--sender=${sender} --recipient=${recipient}" in contrib_master_entry()
    assert contrib_main_settings() == {f"{PIPE_SERVICE}_destination_recipient_limit": "1"}
    assert contrib_transport("smtp:") == "smtp:[127.0.0.1]:10025"


# ---------------------------------------------------------------- (a) transport map -> SMTP listener


@pytest.fixture
def listener(tmp_path, postfix):
    port = free_port()
    (tmp_path / "c.yaml").write_text(config_text(SMTP_DOMAIN, tmp_path / "data", port))
    config = load_config(tmp_path / "c.yaml")
    store = Store.open(config.storage)
    kw = smtp_kwargs(config)
    ident = kw.pop("hostname")
    ctl = FaxController(FaxHandler(config, load_rules(None, config), store), hostname="127.0.0.1", port=port,
                     server_hostname=ident, **kw)
    ctl.start()
    # contrib/postfix/transport, as the how-to says (with this test's port)
    postfix.transports[SMTP_DOMAIN] = contrib_transport("smtp:").replace(":10025", f":{port}")
    postfix.relay_domains.append(SMTP_DOMAIN)
    postfix.start()  # apply, and start again if another test session stopped the shared Postfix
    yield store
    postfix.transports.pop(SMTP_DOMAIN, None)
    postfix.relay_domains.remove(SMTP_DOMAIN)
    postfix.apply()
    ctl.stop()
    store.close()


def test_transport_map_to_the_listener(listener, postfix):
    store = listener
    tag = uuid.uuid4().hex
    sendmail(f"0301234567@{SMTP_DOMAIN}", tag)
    job = wait_for(lambda: store.jobs())[0]
    assert job.number == "+49301234567" and job.state is JobState.QUEUED
    assert store.message(job.message).sender == SENDER

    # a premium number: 550 at RCPT, Postfix bounces it to the sender with our reason
    refused = uuid.uuid4().hex
    sendmail(f"0900123456@{SMTP_DOMAIN}", refused)
    report = wait_for(lambda: bounces(refused))[0]
    assert "premium" in report.as_string() and f"0900123456@{SMTP_DOMAIN}" in report.as_string()


def test_transport_map_451_is_deferred_then_delivered(listener, postfix):
    store = listener
    messages = store.msg_dir
    shutil.rmtree(messages)
    messages.write_text("not a directory: the spool is broken")  # accept() fails -> 451
    try:
        tag = uuid.uuid4().hex
        sendmail(f"0301234568@{SMTP_DOMAIN}", tag)
        wait_for(lambda: _deferred(tag))
        assert store.jobs() == []
    finally:
        messages.unlink()
        messages.mkdir()
    postfix.flush()
    job = wait_for(lambda: store.jobs())[0]
    assert job.number == "+49301234568"
    assert not bounces(tag)


def _deferred(tag: str) -> bool:
    """Postfix logged a deferral for the message with Message-ID <tag@...>."""
    log = Path("/var/log/postfix.log").read_text(errors="replace")
    ids = [line.split(": message-id=")[0].rsplit(" ", 1)[-1] for line in log.splitlines()
           if f"message-id=<{tag}@" in line]
    return any(f"{qid}: " in line and "status=deferred" in line for qid in ids for line in log.splitlines())


# ---------------------------------------------------------------- (b) pipe transport -> mailfax enqueue


def pipe_user() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(PIPE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", PIPE_USER], check=True, capture_output=True)
        pw = pwd.getpwnam(PIPE_USER)
    return pw.pw_uid, pw.pw_gid


@pytest.fixture(scope="module")
def pipe_runtime():
    """A venv the pipe user may execute, with ``bin/mailfax`` loading this checkout's packages."""
    system = Path("/usr/bin/python3")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not system.exists() or subprocess.run([str(system), "-c", f"import sys; assert sys.version.startswith('{sys.version_info.major}.{sys.version_info.minor}.')"]).returncode:
        pytest.skip(f"no system {version} to run the pipe command as a non-root user")
    root = Path(tempfile.mkdtemp(prefix="mailfax-venv-", dir="/var/tmp"))
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(root)], check=True, capture_output=True)
    site = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    (root / "lib" / version / "site-packages" / "mailfax-dev.pth").write_text(f"import site; site.addsitedir({site!r})\n")
    (root / "bin" / "mailfax").write_text(f"#!{root}/bin/python\nimport sys\nfrom mailfax.cli import main\nsys.exit(main())\n")
    (root / "bin" / "mailfax").chmod(0o755)
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    yield root / "bin" / "mailfax"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pipe(postfix, pipe_runtime):
    uid, gid = pipe_user()
    base = Path(tempfile.mkdtemp(prefix="mailfax-pipe-", dir="/var/tmp"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    os.chown(data, uid, gid)  # the pipe runs as PIPE_USER: its data dir must be writable by it
    conf = base / "mailfax.yaml"
    conf.write_text(config_text(PIPE_DOMAIN, data))
    conf.chmod(0o644)
    # the exact lines of contrib/postfix/master.cf, main.cf and transport, with this test's paths
    postfix.master_entries[PIPE_SERVICE] = contrib_master_entry().replace(
        "/opt/mailfax/venv/bin/mailfax", str(pipe_runtime)).replace("/etc/mailfax/mailfax.yaml", str(conf))
    postfix.settings.update(contrib_main_settings())
    postfix.transports[PIPE_DOMAIN] = contrib_transport("mailfax:")
    postfix.relay_domains.append(PIPE_DOMAIN)
    postfix.start()
    yield load_config(conf), data
    postfix.transports.pop(PIPE_DOMAIN, None)
    postfix.relay_domains.remove(PIPE_DOMAIN)
    postfix.master_entries.pop(PIPE_SERVICE, None)
    for key in contrib_main_settings():
        postfix.settings.pop(key, None)
    postfix.apply()
    subprocess.run(["postconf", "-MX", f"{PIPE_SERVICE}/unix"], capture_output=True)
    subprocess.run(["postconf", "-X", f"{PIPE_SERVICE}_destination_recipient_limit"], capture_output=True)
    if postfix.running():
        subprocess.run(["postfix", "reload"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def test_pipe_to_enqueue(pipe, postfix):
    config, data = pipe
    tag = uuid.uuid4().hex
    sendmail(f'"030 123 4567"@{PIPE_DOMAIN}', tag)
    db = config.storage.queue_db
    wait_for(db.exists)
    store = Store.open(config.storage)
    job = wait_for(lambda: store.jobs())[0]
    assert job.number == "+49301234567" and job.state is JobState.QUEUED
    assert store.message(job.message).sender == SENDER
    assert db.stat().st_uid == pwd.getpwnam(PIPE_USER).pw_uid  # written by the pipe user, not root
    raw = store.read_message(job.message)
    assert raw.startswith(b"Return-Path: <" + SENDER.encode() + b">\r\n") and tag.encode() in raw  # flags=R

    refused = uuid.uuid4().hex
    sendmail(f"0900123456@{PIPE_DOMAIN}", refused)
    report = wait_for(lambda: bounces(refused))[0].as_string()
    assert "premium" in report and "mailfax enqueue" in report
    assert len(store.jobs()) == 1
    store.close()


def test_pipe_tempfail_is_deferred_then_delivered(pipe, postfix):
    config, data = pipe
    uid, gid = pipe_user()
    os.chown(data, 0, 0)
    data.chmod(0o755)  # the pipe user cannot create the queue: enqueue exits 75
    tag = uuid.uuid4().hex
    try:
        sendmail(f"0301234569@{PIPE_DOMAIN}", tag)
        wait_for(lambda: _deferred(tag))
        assert not config.storage.queue_db.exists()
    finally:
        os.chown(data, uid, gid)
    postfix.flush()
    wait_for(config.storage.queue_db.exists)
    store = Store.open(config.storage)
    job = wait_for(lambda: store.jobs())[0]
    assert job.number == "+49301234569"
    assert not bounces(tag)
    store.close()
