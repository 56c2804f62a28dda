"""Pure job logic (mailfax.jobs): transitions, retry timing per class, limits, scheduling."""

import itertools

import pytest
from hypothesis import given, strategies as st

from mailfax.jobs import (COMPLETION_CLASS, TRANSITIONS, Candidate, FailureClass, JobSettings, JobState, Progress, RetryPolicy,
                          after_attempt, can_move, failure_for_completion, pick_dialable, with_attempt)

P = RetryPolicy()
T0 = 1_000_000.0


@pytest.mark.parametrize("failure, delay", [
    (FailureClass.BUSY, 180), (FailureClass.NO_ANSWER, 300), (FailureClass.PROTOCOL, 60), (FailureClass.LINE, 60)])
def test_retry_delay_per_class(failure, delay):
    p = Progress(T0, dials=1, tries=int(failure.connected), pages_total=2)
    n = after_attempt(p, failure, P, T0 + 10)
    assert n.state is JobState.RETRY_WAIT and n.next_try_at == T0 + 10 + delay and "will retry" in n.reason


def test_done_only_when_every_page_confirmed():
    assert after_attempt(Progress(T0, 1, 1, 3, 3), None, P, T0).state is JobState.DONE
    # a call that "ended well" with a page missing is not done
    n = after_attempt(Progress(T0, 1, 1, 3, 2), None, P, T0)
    assert n.state is JobState.RETRY_WAIT
    assert after_attempt(Progress(T0, 1, 1, 0, 0), None, P, T0).state is not JobState.DONE


def test_dial_limit_counts_every_call():
    p = Progress(T0)
    now = T0
    for i in range(1, 13):
        p = with_attempt(p, connected=False, newly_confirmed=0)
        n = after_attempt(p, FailureClass.BUSY, RetryPolicy(give_up_after=1e9), now)
        now = n.next_try_at or now
    assert p.dials == 12 and n.state is JobState.FAILED and "12 calls" in n.reason


def test_connected_tries_limit():
    p = Progress(T0, pages_total=5)
    for _ in range(3):
        p = with_attempt(p, connected=True, newly_confirmed=1)
        n = after_attempt(p, FailureClass.PROTOCOL, P, T0)
    assert p.tries == 3 and p.pages_confirmed == 3 and n.state is JobState.FAILED and "3 fax sessions" in n.reason
    # busy signals do not count as tries
    assert after_attempt(p, FailureClass.BUSY, P, T0).state is JobState.RETRY_WAIT


def test_give_up_after_three_hours():
    p = Progress(T0, dials=3, pages_total=1)
    assert after_attempt(p, FailureClass.NO_ANSWER, P, T0 + 3 * 3600 - 301).state is JobState.RETRY_WAIT
    n = after_attempt(p, FailureClass.NO_ANSWER, P, T0 + 3 * 3600 - 299)
    assert n.state is JobState.FAILED and "3 h" in n.reason


def test_permanent_failure_is_not_retried():
    n = after_attempt(Progress(T0, 1, 0, 1), FailureClass.PERMANENT, P, T0)
    assert n.state is JobState.FAILED and n.next_try_at is None


def test_one_call_per_number_and_trunk_limits():
    cands = [Candidate(1, "+491", "a", 5), Candidate(2, "+491", "a", 1), Candidate(3, "+492", "a", 2),
             Candidate(4, "+493", "a", 3), Candidate(5, "+494", "b", 4), Candidate(6, "+495", "c", 0)]
    got = pick_dialable(cands, busy_numbers=["+494"], trunk_in_use={"a": 0}, trunk_limits={"a": 2, "b": 1})
    # oldest first; +491 only once; trunk a holds 2; +494 is already in a call; trunk c has no channels
    assert [c.job_id for c in got] == [2, 3]
    assert pick_dialable(cands, [], {"a": 2, "b": 0}, {"a": 2, "b": 1}) == [cands[4]]


@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from("ab"), st.floats(0, 100)), max_size=20),
       st.integers(0, 3), st.integers(0, 3))
def test_pick_never_exceeds_limits(items, la, lb):
    cands = [Candidate(i, f"+4{n}", t, r) for i, (n, t, r) in enumerate(items)]
    got = pick_dialable(cands, [], {}, {"a": la, "b": lb})
    assert len({c.number for c in got}) == len(got)
    assert sum(c.trunk == "a" for c in got) <= la and sum(c.trunk == "b" for c in got) <= lb


def test_transition_table_is_closed():
    for old, new in itertools.product(JobState, JobState):
        assert can_move(old, new) == (new in TRANSITIONS[old])
    assert not TRANSITIONS[JobState.DONE]
    for s in JobState:
        if not s.final:
            assert s is JobState.QUEUED or any(s in TRANSITIONS[o] for o in JobState), s
            assert can_move(s, JobState.CANCELLED) or s is JobState.CANCELLED


def test_settings_round_trip():
    s = JobSettings(rule="r", cover_fields=("to",), retry=RetryPolicy(busy=1))
    assert JobSettings.from_json(s.to_json()) == s


@given(st.integers(0, 20), st.integers(0, 5), st.integers(0, 10), st.integers(0, 10),
       st.sampled_from([None, *FailureClass]), st.floats(0, 20_000))
def test_after_attempt_invariants(dials, tries, total, confirmed, failure, elapsed):
    confirmed = min(confirmed, total)
    p = Progress(T0, max(dials, 1), tries, total, confirmed)
    n = after_attempt(p, failure, P, T0 + elapsed)
    assert (n.state is JobState.DONE) == (total > 0 and confirmed == total)
    assert n.state in (JobState.DONE, JobState.FAILED, JobState.RETRY_WAIT)
    if n.state is JobState.RETRY_WAIT:
        assert T0 + elapsed < n.next_try_at <= T0 + P.give_up_after
        assert p.dials < P.max_dials and failure is not FailureClass.PERMANENT
    else:
        assert n.next_try_at is None


def test_completion_classes():
    from dsp.t30.completion import Completion

    assert failure_for_completion(Completion.OK.name) is None
    assert failure_for_completion(Completion.T1_EXPIRED.name) is FailureClass.NO_ANSWER
    assert failure_for_completion(Completion.SIZE_UNSUPPORTED.name) is FailureClass.PERMANENT
    assert failure_for_completion(Completion.PAGE_REJECTED.name) is FailureClass.PROTOCOL
    names = {c.name for c in Completion}
    assert set(COMPLETION_CLASS) <= names  # the table names real completions
