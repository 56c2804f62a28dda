"""The received-fax store: storage first (files then rows), the TIFF-F made from the line's
own bytes without re-encoding, per-target delivery states, recovery after a restart."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from dsp.t4 import encode_page, reverse_bits_in_bytes
from mailfax import tiff
from mailfax.received import (CodedLinePage, DeliveryState, NewDelivery, ReceivedFax, ReceivedStore, TargetKind,
                              tiff_of)
from tests.support.received_faxes import pillow_tiff_pages, real_pages, sample_fax


@pytest.fixture(scope="module")
def pages():
    return real_pages(2)


@pytest.fixture
def store(tmp_path):
    return ReceivedStore(tmp_path / "q.sqlite", tmp_path / "spool")


def email_target(addr="bob@example.com"):
    return NewDelivery(TargetKind.EMAIL, {"to": addr, "formats": ["pdf"]}, addr)


def test_add_then_load_gives_the_same_pages_and_metadata(store, pages):
    fax = sample_fax(pages)
    fid = store.add(fax, [email_target()], now=1000.0, rule="sales")
    back = store.load(fid)
    assert back.fax_id == fid and len(back.pages) == 2
    assert all(a.same_pixels(b) for a, b in zip(pages, back.pages))
    assert (back.tsi, back.caller_id, back.called, back.bit_rate, back.ecm) == (fax.tsi, fax.caller_id, fax.called,
                                                                                 14400, True)
    rec = store.fax(fid)
    assert rec.rule == "sales" and rec.received_at == 1000.0
    # the metadata is on disk next to the TIFF, not only in the database
    meta = json.loads(rec.path.with_suffix(".json").read_text())
    assert meta["tsi"] == fax.tsi and meta["pages_received"] == 2


def test_files_are_complete_before_the_row_exists(store, pages, tmp_path):
    """Storage first: every row points at files already on disk (no temp files left)."""
    fid = store.add(sample_fax(pages), [], now=1.0)
    spool = tmp_path / "spool" / "received"
    names = sorted(p.name for p in spool.iterdir())
    assert not [n for n in names if n.startswith(".")]
    assert store.fax(fid).path.name in names
    assert pillow_tiff_pages(store.tiff_bytes(fid))[0].shape == pages[0].rows.shape


@pytest.mark.parametrize("coding,lsb_first", [("mh", False), ("mr", True), ("mmr", False)])
def test_line_bytes_are_wrapped_without_re_encoding(store, pages, coding, lsb_first):
    """The TIFF strip is the line's bytes as they came; libtiff (Pillow) decodes the pages."""
    line = [encode_page(p, coding, k=2, rtc=coding != "mmr") for p in pages]
    if lsb_first:
        line = [reverse_bits_in_bytes(b) for b in line]
    coded = tuple(CodedLinePage(b, p.width, p.height, coding, p.x_res, p.y_res, lsb_first=lsb_first)
                  for b, p in zip(line, pages))
    fid = store.add(sample_fax(pages=(), coded=coded, coding=coding), [], now=1.0)
    data = store.tiff_bytes(fid)
    images = tiff.read_tiff(data)
    assert [b"".join(im.strips) for im in images] == line
    assert all(im.fill_order == (2 if lsb_first else 1) for im in images)
    for page, got in zip(pages, pillow_tiff_pages(data)):
        assert np.array_equal(got, page.rows)
    assert all(a.same_pixels(b) for a, b in zip(pages, store.load(fid).pages))


def test_a_call_that_broke_before_page_one_is_kept_as_a_record(store):
    fax = ReceivedFax(called="50", caller_id="+4989", completion="T2_EXPIRED", reason="no command within T2")
    fid = store.add(fax, [email_target()], now=5.0)
    back = store.load(fid)
    assert back.pages == () and back.pages_received == 0 and not back.complete
    assert store.tiff_bytes(fid) is None


def test_partial_reception_keeps_pages_and_reason(store, pages):
    fax = sample_fax(pages[:1], pages_expected=3, completion="NO_CARRIER", reason="the line went silent")
    back = store.load(store.add(fax, [], now=1.0))
    assert back.pages_received == 1 and back.pages_expected == 3 and not back.complete
    assert back.reason == "the line went silent"


def test_delivery_states_and_one_claim_per_delivery(store, tmp_path, pages):
    fid = store.add(sample_fax(pages), [email_target("a@x.test"), email_target("b@x.test")], now=10.0)
    other = ReceivedStore(tmp_path / "q.sqlite", tmp_path / "spool")  # a second process
    assert store.claim_due(9.0) == []
    claimed = store.claim_due(10.0)
    assert [d.state for d in claimed] == [DeliveryState.DELIVERING] * 2 and claimed[0].attempts == 1
    assert other.claim_due(10.0) == []          # nobody claims what is being delivered
    a, b = claimed
    assert store.retry_at(a.id, 70.0, "451 later", 10.0)
    assert not store.retry_at(a.id, 70.0, "again", 10.0)  # not delivering any more
    assert store.next_wakeup() == 70.0
    alert = NewDelivery(TargetKind.ALERT, {"to": "fm@x.test", "failed": b.label, "error": "550"}, "alert")
    assert store.failed(b.id, "550 no such user", 11.0, alert=alert)
    rows = store.deliveries(fid)
    assert [r.state for r in rows] == [DeliveryState.PENDING, DeliveryState.FAILED, DeliveryState.PENDING]
    assert rows[2].kind is TargetKind.ALERT and rows[2].message_id not in (rows[0].message_id, rows[1].message_id)
    (again,) = [d for d in store.claim_due(70.0) if d.id == a.id]
    assert again.attempts == 2 and store.delivered(a.id, 71.0)
    assert store.delivery(a.id).state is DeliveryState.DELIVERED and store.delivery(a.id).error == ""


def test_recover_makes_interrupted_attempts_pending_and_uncertain(store, pages):
    fid = store.add(sample_fax(pages), [email_target()], now=1.0)
    (d,) = store.claim_due(1.0)
    # a new instance after a crash
    assert store.recover(50.0) == 1
    back = store.delivery(d.id)
    assert back.state is DeliveryState.PENDING and back.uncertain and back.next_try_at == 50.0
    assert back.message_id == d.message_id  # the same message: a retry can recognise it


def test_recover_removes_files_of_a_fax_never_committed(store, pages, tmp_path):
    import os

    fid = store.add(sample_fax(pages), [], now=1.0)
    kept = store.fax(fid).path
    orphan = kept.with_name("0123abcd.tif")
    orphan.write_bytes(b"II*\x00")
    fresh = kept.with_name("fresh.json")
    fresh.write_text("{}")
    os.utime(orphan, (100.0, 100.0))
    store.recover(now=10_000.0, orphan_age=600)
    assert kept.exists() and kept.with_suffix(".json").exists() and not orphan.exists()
    assert fresh.exists()  # too young: maybe another process between fsync and commit


def test_redeliver_makes_a_new_copy(store, pages):
    fid = store.add(sample_fax(pages), [email_target()], now=1.0)
    (d,) = store.claim_due(1.0)
    store.delivered(d.id, 2.0)
    assert store.redeliver(fid, 100.0) == 1
    back = store.delivery(d.id)
    assert back.state is DeliveryState.PENDING and back.attempts == 0 and back.message_id != d.message_id


def test_same_database_file_as_the_queue_without_touching_its_tables(tmp_path, pages):
    from mailfax.store import Store

    q = Store(tmp_path / "queue.sqlite", tmp_path / "spool")
    r = ReceivedStore(tmp_path / "queue.sqlite", tmp_path / "spool")
    r.add(sample_fax(pages), [], now=1.0)
    assert q.message_count() == 0
    tables = {row[0] for row in sqlite3.connect(tmp_path / "queue.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"messages", "jobs", "received_faxes", "received_deliveries"} <= tables


def test_tiff_of_pages_is_mmr(pages):
    data = tiff_of(sample_fax(pages))
    assert [im.compression for im in tiff.read_tiff(data)] == [tiff.COMP_T6] * 2
