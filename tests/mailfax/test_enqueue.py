"""``mailfax enqueue`` (the Postfix pipe command): checked and spooled as SMTP would, sysexits out.

The in-process tests call `enqueue()` with the real config, rules and store; two tests run
the installed ``mailfax`` script as Postfix's pipe would (stdin, exit status, stderr).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from mailfax.commands import enqueue as cmd
from mailfax.config import load_config
from mailfax.jobs import JobState
from mailfax.rules import Sender, load_rules
from mailfax.smtp_in import decide_recipient
from mailfax.store import Store
from tests.support import mailfax_samples as samples

T0 = 1_700_000_000.0

RULES = """
outbound:
  - name: office
    from: {domains: [example.com], relays: [127.0.0.0/8]}
    numbers: {allow: ["+49*"]}
"""


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "mailfax.yaml").write_text(
        "fax: {domains: [fax.test]}\n"
        'dialing: {country_code: "49", area_code: "30"}\n'
        f"storage: {{data_dir: {tmp_path / 'data'}}}\n"
        "limits: {max_recipients: 3}\nsmtp: {max_message_size: 1MB}\nrules: rules.yaml\n")
    config = load_config(tmp_path / "mailfax.yaml")
    return tmp_path, config, load_rules(None, config)


def lf(msg) -> bytes:
    """The message as Postfix's pipe hands it over: LF line ends."""
    return samples.wire(msg).replace(b"\r\n", b"\n")


def run_enqueue(setup, raw, sender="alice@example.com", rcpts=("0301234567@fax.test",), **kw):
    _, config, rules = setup
    return cmd.enqueue(raw, sender, list(rcpts), config=config, rules=rules, now=T0, **kw)


def test_queued_like_the_smtp_path(setup):
    _, config, rules = setup
    msg = samples.message("doc.txt", sender="alice@example.com")
    out = run_enqueue(setup, lf(msg), rcpts=('"030 123-4567"@fax.test', "+49301234567@FAX.TEST"))
    assert out.status == cmd.EX_OK, out.text
    store = Store.open(config.storage)
    [job] = store.jobs()  # one number, named twice: one job, as RCPT dedups
    assert job.state is JobState.QUEUED and job.number == "+49301234567" and job.created_at == T0
    same = decide_recipient(config, rules, Sender("alice@example.com", None, "127.0.0.1"), "0301234567@fax.test")
    assert (job.dial, job.trunk, job.settings) == (same.dial, same.trunk, same.settings)
    # spooled with CRLF line ends, byte for byte what the SMTP listener stores
    assert store.read_message(job.message) == samples.wire(msg)
    assert store.message(job.message).peer == "127.0.0.1"
    assert f"job {job.id}" in out.text
    # Postfix retries a delivery whose exit status it lost: the same message is not queued twice
    again = run_enqueue(setup, lf(msg), rcpts=('"030 123-4567"@fax.test',))
    assert again.status == cmd.EX_OK and "already queued" in again.text
    assert len(store.jobs()) == 1


@pytest.mark.parametrize("sender, rcpt, client, status, words", [
    ("alice@example.com", "12ab@fax.test", "", cmd.EX_NOUSER, "bad fax number"),
    ("alice@example.com", "0301234567@elsewhere.test", "", cmd.EX_NOPERM, "relaying denied"),
    ("mallory@evil.test", "0301234567@fax.test", "", cmd.EX_NOPERM, "not authorised"),
    ("alice@example.com", "0033123456789@fax.test", "", cmd.EX_NOPERM, "international"),
    ("alice@example.com", "0301234567@fax.test", "192.0.2.7", cmd.EX_NOPERM, "not authorised"),
])
def test_refusals_are_permanent_with_the_reason(setup, sender, rcpt, client, status, words):
    out = run_enqueue(setup, lf(samples.message("doc.txt")), sender=sender, rcpts=(rcpt,), client=client)
    assert out.status == status and words in out.text
    assert Store.open(setup[1].storage).jobs() == []


def test_one_refused_recipient_refuses_the_message(setup):
    out = run_enqueue(setup, lf(samples.message("doc.txt")), rcpts=("0301234567@fax.test", "0900123456@fax.test"))
    assert out.status == cmd.EX_NOPERM and "0900123456@fax.test" in out.text
    assert Store.open(setup[1].storage).jobs() == []


def test_nothing_faxable_is_a_data_error(setup):
    raw = b"From: alice@example.com\nSubject: x\n\n\n"
    out = run_enqueue(setup, raw)
    assert out.status == cmd.EX_DATAERR and "nothing to fax" in out.text


def test_limits(setup):
    big = b"Subject: big\n\n" + b"x" * (1024 * 1024)
    assert run_enqueue(setup, big).status == cmd.EX_UNAVAILABLE
    many = [f"03012345{i}@fax.test" for i in range(4)]
    assert run_enqueue(setup, lf(samples.message("doc.txt")), rcpts=many).status == cmd.EX_TEMPFAIL


def test_our_failure_is_temporary(setup, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data directory should be")
    _, config, rules = setup

    def broken_store(storage):
        return Store(blocker / "queue.sqlite", blocker / "spool")

    out = cmd.enqueue(lf(samples.message("doc.txt")), "alice@example.com", ["0301234567@fax.test"],
                      config=config, rules=rules, now=T0, open_store=broken_store)
    assert out.status == cmd.EX_TEMPFAIL and "could not queue" in out.text


def test_exit_status_map():
    assert cmd.exit_status(451, "4.3.0") == cmd.EX_TEMPFAIL
    assert cmd.exit_status(550, "5.7.1") == cmd.EX_NOPERM
    assert cmd.exit_status(553, "5.1.3") == cmd.EX_NOUSER
    assert cmd.exit_status(554, "5.6.0") == cmd.EX_DATAERR
    assert cmd.exit_status(552, "5.3.4") == cmd.EX_UNAVAILABLE


def mailfax(*args, stdin: bytes) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mailfax")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, timeout=60)


def test_command_line_as_postfix_runs_it(setup):
    tmp_path, config, _ = setup
    conf = str(tmp_path / "mailfax.yaml")
    ok = mailfax("enqueue", "--config", conf, "--sender=alice@example.com", "--recipient=0301234567@fax.test",
                 "--client=", "--sasl-user=", stdin=lf(samples.message("doc.txt")))
    assert ok.returncode == 0, ok.stderr
    assert len(Store.open(config.storage).jobs()) == 1
    bad = mailfax("enqueue", "--config", conf, "--sender=bob@example.com", "--recipient=0900123456@fax.test",
                  stdin=lf(samples.message("doc.txt", message_id="<m2@example.com>")))
    assert bad.returncode == cmd.EX_NOPERM
    lines = bad.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "premium" in lines[0]


def test_a_broken_config_defers(tmp_path):
    (tmp_path / "bad.yaml").write_text("smtp: {listen: nowhere}\n")
    out = mailfax("enqueue", "--config", str(tmp_path / "bad.yaml"), "--sender=a@b.c",
                  "--recipient=1@fax.localhost", stdin=b"Subject: x\n\nhi\n")
    assert out.returncode == cmd.EX_TEMPFAIL and b"smtp.listen" in out.stderr
