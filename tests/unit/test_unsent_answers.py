"""The arithmetic of the unsent-answers budget (service/http/unsent_answers.py); the real
connections and the worker's memory are in tests/integration/test_unread_answers.py."""
from __future__ import annotations

import pytest

from service.http.unsent_answers import (
    AnswersUnread,
    CallerAnswersUnread,
    CallerStreamsBusy,
    StreamsBusy,
    StreamSlots,
    UnsentAnswers,
)

MiB = 1024 * 1024


class Buffer:
    """A transport as the budget reads it: the bytes in its write buffer."""

    def __init__(self, size: int) -> None:
        self.size = size

    def get_write_buffer_size(self) -> int:
        return self.size

    def abort(self) -> None:
        self.aborted = True
        self.size = 0


def test_a_caller_with_nothing_unsent_gets_any_answer():
    budget = UnsentAnswers(per_caller=10 * MiB, total=20 * MiB)
    budget.admit("user:a", 50 * MiB)


def test_a_callers_unsent_bytes_refuse_its_next_large_answer_not_anothers():
    budget = UnsentAnswers(per_caller=10 * MiB, total=100 * MiB)
    budget.paused("user:a", "conn-1", Buffer(8 * MiB))
    budget.admit("user:a", 2 * MiB)                       # 10 MiB: at the share, not over
    with pytest.raises(CallerAnswersUnread) as refused:
        budget.admit("user:a", 2 * MiB + 1)
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
    budget.admit("user:b", 9 * MiB)
    assert budget.held("user:a") == 8 * MiB and budget.held("user:b") == 0


def test_the_count_follows_the_buffer_and_ends_when_the_connection_resumes():
    budget = UnsentAnswers(per_caller=10 * MiB, total=100 * MiB)
    buffer = Buffer(9 * MiB)
    budget.paused("user:a", "conn-1", buffer)
    budget.paused("user:a", "conn-2", Buffer(1 * MiB))
    assert budget.held("user:a") == 10 * MiB
    buffer.size = 1 * MiB                                 # the client read 8 MiB
    budget.admit("user:a", 8 * MiB)
    budget.resumed("user:a", "conn-2")
    budget.resumed("user:a", "conn-1")
    assert budget.held("user:a") == 0 and not budget._paused


def test_a_holder_over_the_process_share_is_refused_with_503():
    budget = UnsentAnswers(per_caller=15 * MiB, total=20 * MiB)
    budget.paused("user:a", "conn-1", Buffer(9 * MiB))
    budget.paused("user:b", "conn-2", Buffer(9 * MiB))
    with pytest.raises(AnswersUnread) as refused:
        budget.admit("user:a", 2 * MiB + 1)
    assert refused.value.status == 503 and refused.value.code == "busy"
    budget.admit("user:a", 2 * MiB)


def test_a_caller_with_nothing_unsent_is_never_refused_the_largest_holders_stalls_are_cut():
    budget = UnsentAnswers(per_caller=10 * MiB, total=20 * MiB)
    a1, a2, b = Buffer(5 * MiB), Buffer(4 * MiB), Buffer(8 * MiB)
    budget.paused("user:a", "conn-a1", a1)
    budget.paused("user:a", "conn-a2", a2)
    budget.paused("user:b", "conn-b", b)
    budget.admit("user:c", 6 * MiB)             # 17 + 6 > 20: 3 MiB must go
    assert getattr(a1, "aborted", False) and not getattr(a2, "aborted", False) and not getattr(b, "aborted", False)
    assert budget.held("user:a") == 4 * MiB and budget.held("user:b") == 8 * MiB


def test_a_callers_downloads_at_once_are_capped_not_anothers_and_freed_on_exit():
    slots = StreamSlots(per_caller=2, total=3)
    with slots.taken("user:a"), slots.taken("user:a"):
        with pytest.raises(CallerStreamsBusy) as refused:
            with slots.taken("user:a"):
                pass
        assert refused.value.status == 429
        with slots.taken("user:b"):
            with pytest.raises(StreamsBusy):
                with slots.taken("user:c"):
                    pass
    assert slots.used == 0 and not slots._by_caller
    with pytest.raises(RuntimeError), slots.taken("user:a"):
        raise RuntimeError("the download broke off")
    assert slots.used == 0 and not slots._by_caller


def test_a_writes_answer_is_never_refused_its_callers_own_stalled_answers_make_room():
    budget = UnsentAnswers(per_caller=10 * MiB, total=100 * MiB)
    big, small, other = Buffer(6 * MiB), Buffer(3 * MiB), Buffer(9 * MiB)
    budget.paused("user:a", "conn-1", big)
    budget.paused("user:a", "conn-2", small)
    budget.paused("user:b", "conn-3", other)
    budget.admit_write("user:a", 4 * MiB)                 # 13 MiB: the largest of its own goes
    assert getattr(big, "aborted", False) and not getattr(small, "aborted", False)
    assert not getattr(other, "aborted", False)
    assert budget.held("user:a") == 3 * MiB and budget.held("user:b") == 9 * MiB


def test_a_paused_writes_answer_counts_its_whole_body_besides_the_buffer():
    budget = UnsentAnswers(per_caller=10 * MiB, total=100 * MiB)
    budget.paused("user:a", "conn-1", Buffer(4 * MiB), answer=8 * MiB)
    assert budget.held("user:a") == 12 * MiB
    with pytest.raises(CallerAnswersUnread):
        budget.admit("user:a", 1 * MiB)


def test_a_writes_answer_over_the_process_share_aborts_the_largest_holder():
    budget = UnsentAnswers(per_caller=100 * MiB, total=20 * MiB)
    budget.paused("user:a", "conn-1", Buffer(2 * MiB))
    hog = Buffer(15 * MiB)
    budget.paused("user:b", "conn-2", hog)
    budget.admit_write("user:a", 5 * MiB)                 # never raises, even holding unsent bytes
    assert getattr(hog, "aborted", False) and budget.held("user:a") == 2 * MiB
