"""Group commit: `Store.accept_batch` and the listener's `GroupCommit`.

Several messages share one directory fsync and one SQLite commit; each is still answered
only once its rows are committed and its file is on disk, a resend of the same message in
the same batch is not queued twice, and a failure of ours stays a per-message error (451
at SMTP), never a lost or half-queued message.
"""

import asyncio
import shutil
import smtplib
import threading


from mailfax.config import load_config
from mailfax.jobs import JobSettings
from mailfax.rules import load_rules
from mailfax.smtp_in import FaxHandler, GroupCommit, smtp_kwargs
from mailfax.store import Accepted, Envelope, NewJob, Store, Submission
from tests.mailfax.test_smtp_in import free_port
from tests.support import mailfax_samples as samples
from tests.support.smtp_controller import FaxController

T0 = 1_700_000_000.0


def sub(mid, number="+4930111", raw=b"Subject: x\n\nhello\n", sender="a@b"):
    return Submission(raw, Envelope(sender, message_id=mid), (NewJob(number, number, None, JobSettings()),), T0)


def test_batch_queues_each_once_and_dedups_within_the_batch(tmp_path):
    store = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    res = store.accept_batch([sub("<1@b>"), sub("<2@b>", "+4930222"), sub("<1@b>"), sub(None), sub(None)])
    assert [type(r) for r in res] == [Accepted] * 5
    assert res[2] == Accepted(res[0].message, res[0].jobs, duplicate=True)
    assert len({r.message for r in res}) == 4 and not any(r.duplicate for r in res[:2] + res[3:])
    assert store.message_count() == 4 and len(store.jobs()) == 4
    assert sorted(p.name for p in store.msg_dir.iterdir()) == sorted(store.message(r.message).path.name for r in res[:2] + res[3:])
    again = store.accept_batch([sub("<2@b>", "+4930222")])  # a later batch sees the committed one
    assert again == [Accepted(res[1].message, res[1].jobs, duplicate=True)]


def test_batch_write_failure_is_per_message_and_leaves_nothing(tmp_path):
    store = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    shutil.rmtree(store.msg_dir)
    res = store.accept_batch([sub("<1@b>"), sub(None)])
    assert all(isinstance(r, OSError) for r in res) and store.message_count() == 0


def test_group_commit_answers_each_after_its_commit(tmp_path):
    store = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    gc = GroupCommit(store)

    async def one(i):
        acc = await gc.accept(sub(f"<{i}@b>", f"+49301{i:03d}", raw=b"Subject: %d\n\nbody\n" % i))
        other = Store(tmp_path / "q.sqlite", tmp_path / "spool")  # another connection sees it
        rec = other.message(acc.message)
        seen = rec is not None and rec.path.read_bytes() == b"Subject: %d\n\nbody\n" % i
        other.close()
        return acc, seen

    async def main():
        first = await asyncio.gather(*(one(i) for i in range(12)))
        again = await asyncio.gather(*(one(i) for i in (3, 3, 4)))  # resends, two in one batch
        return first, again

    first, again = asyncio.run(main())
    assert all(seen for _, seen in first + again)
    assert len({a.message for a, _ in first}) == 12 and not any(a.duplicate for a, _ in first)
    assert [a.message for a, _ in again] == [first[3][0].message] * 2 + [first[4][0].message]
    assert all(a.duplicate for a, _ in again) and store.message_count() == 12


def test_concurrent_clients_are_all_queued_once(tmp_path):
    """Eight SMTP clients at once, a shared resend among them: every 250 is one queued message."""
    port = free_port()
    (tmp_path / "m.yaml").write_text(f"smtp: {{listen: 127.0.0.1:{port}}}\nfax: {{domains: [fax.test]}}\n"
                                     f"storage: {{data_dir: {tmp_path / 'data'}}}\n")
    config = load_config(tmp_path / "m.yaml")
    store = Store.open(config.storage)
    ctl = FaxController(FaxHandler(config, load_rules(None, config), store, clock=lambda: T0),
                     hostname="127.0.0.1", port=port, **{k: v for k, v in smtp_kwargs(config).items() if k != "hostname"})
    ctl.start()
    codes, lock = [], threading.Lock()
    pdf = samples.pdf(seed=3, noise_kb=20)

    def client(k):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
            c.ehlo("client.test")
            for i in range(4):
                mid = "<shared@example.com>" if i == 3 else f"<c{k}-{i}@example.com>"
                msg = samples.wire(samples.message(message_id=mid, extra={"doc.pdf": pdf}))
                c.mail("alice@example.com")
                c.rcpt("+4930123456@fax.test")
                try:
                    code, _ = c.data(msg)
                except smtplib.SMTPResponseException as e:
                    code = e.smtp_code
                with lock:
                    codes.append(code)

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        ctl.stop()
    assert codes == [250] * 32
    assert store.message_count() == 8 * 3 + 1 and len(store.jobs()) == 25
    assert len(list(store.msg_dir.iterdir())) == 25


def test_group_commit_failure_reaches_every_waiter_and_the_next_batch_commits(tmp_path):
    """A failed batch commit raises in each of its callers (451 at SMTP), leaves no file,
    and does not wedge the leader/follower hand-over: the next messages are queued."""
    import sqlite3

    store = Store(tmp_path / "q.sqlite", tmp_path / "spool")
    gc = GroupCommit(store)
    other = sqlite3.connect(tmp_path / "q.sqlite", isolation_level=None)
    other.execute("ALTER TABLE jobs RENAME TO jobs_away")  # every INSERT INTO jobs now fails

    async def batch(ids):
        return await asyncio.gather(*(gc.accept(sub(f"<{i}@b>", f"+49301{i:03d}")) for i in ids),
                                    return_exceptions=True)

    failed = asyncio.run(batch(range(6)))
    assert all(isinstance(r, sqlite3.OperationalError) for r in failed)
    assert store.message_count() == 0 and list(store.msg_dir.iterdir()) == []
    other.execute("ALTER TABLE jobs_away RENAME TO jobs")
    other.close()
    done = asyncio.run(batch(range(6)))
    assert all(isinstance(r, Accepted) and not r.duplicate for r in done)
    assert store.message_count() == 6 and len(list(store.msg_dir.iterdir())) == 6
