"""How ticket words become search tokens (intake's `tickets/search_index.py`), and which clock a
work list orders a ticket by (`tickets/domain.py` `SlaClocks.next_due`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_intake.tickets.domain import SlaClocks
from ticketloop_intake.tickets.search_index import (
    MAX_QUERY_TERMS,
    fold,
    query_tokens,
    terms,
    ticket_tokens,
    token,
)
from ticketloop_shared.events import ClockKind, ClockOutcome, ClockView

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Émile RÉSUMÉ", "emile resume"),
        ("Straße", "strasse"),
        ("ＡＢＣ１２３", "abc123"),  # full-width forms
        ("Ça coûte trop cher", "ca coute trop cher"),
        ("한국어", "한국어"),  # Hangul stays composed
    ],
)
def test_fold_lowercases_and_removes_accents(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_words_are_folded_deduplicated_and_stop_words_dropped() -> None:
    assert terms("The invoice is WRONG", "the Invoice, wrong again!") == ["invoice", "wrong", "again"]


def test_one_letter_words_and_stop_words_of_several_languages_are_dropped() -> None:
    assert terms("a b c x 7 le la der die el is of") == []


def test_numbers_and_words_with_digits_are_kept() -> None:
    assert terms("Order 1234 for my 4G router, ref A-77") == ["order", "1234", "4g", "router", "ref", "77"]


def test_punctuation_and_underscores_split_words() -> None:
    assert terms("e-mail/password_reset (urgent)") == ["mail", "password", "reset", "urgent"]


def test_chinese_is_cut_into_overlapping_bigrams() -> None:
    assert terms("打印机坏了") == ["打印", "印机", "机坏", "坏了"]


def test_a_lone_cjk_character_is_its_own_term() -> None:
    assert terms("坏") == ["坏"]


def test_cjk_and_latin_runs_split_in_mixed_text() -> None:
    assert terms("我的iPhone屏幕碎了") == ["我的", "iphone", "屏幕", "幕碎", "碎了"]


def test_japanese_kana_and_korean_are_bigrams_too() -> None:
    assert terms("パスワード") == ["パス", "スワ", "ワー", "ード"]
    assert terms("비밀번호") == ["비밀", "밀번", "번호"]


def test_a_chinese_query_matches_the_text_it_is_part_of() -> None:
    text = set(ticket_tokens(KEY, "打印机坏了", "办公室的打印机不能打印"))
    assert set(query_tokens(KEY, "打印机")) <= text
    assert not set(query_tokens(KEY, "扫描仪")) <= text


def test_terms_stop_at_the_limit_keeping_the_first() -> None:
    many = " ".join(f"word{i}" for i in range(100))
    assert terms(many, limit=10) == [f"word{i}" for i in range(10)]
    assert len(query_tokens(KEY, many)) == MAX_QUERY_TERMS


def test_tokens_are_keyed_hashes_never_the_word() -> None:
    [stored] = query_tokens(KEY, "Invoice")
    assert stored == token(KEY, "invoice")
    assert len(stored) == 32
    assert b"invoice" not in stored
    # Another install's key gives another token: a token cannot be tested against a guess
    # without the key.
    assert token(b"o" * 32, "invoice") != stored


def test_the_query_is_normalised_as_the_ticket_is() -> None:
    ticket = set(ticket_tokens(KEY, "Remboursement refusé", "Ma carte a été débitée"))
    assert set(query_tokens(KEY, "REFUSE debitee")) <= ticket
    assert query_tokens(KEY, "the of a") == []


T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def clock(kind: ClockKind, status: ClockOutcome, minutes: float, *, stopped: bool = False) -> ClockView:
    return ClockView(
        clock=kind,
        cycle=1,
        status=status,
        started_at=T0,
        due_at=None if status is ClockOutcome.PAUSED else T0 + timedelta(minutes=minutes),
        target_seconds=minutes * 60,
        stopped_at=T0 + timedelta(minutes=1) if stopped else None,
    )


def test_next_due_is_the_earliest_clock_still_owed() -> None:
    clocks = SlaClocks(
        policy_id="standard",
        version=1,
        clocks=(
            clock(ClockKind.ACKNOWLEDGEMENT, ClockOutcome.MET, 5, stopped=True),
            clock(ClockKind.FIRST_RESPONSE, ClockOutcome.RUNNING, 15),
            clock(ClockKind.RESOLUTION, ClockOutcome.RUNNING, 120),
        ),
    )
    assert clocks.next_due() == (T0 + timedelta(minutes=15), ClockKind.FIRST_RESPONSE)


def test_a_breached_clock_not_yet_stopped_comes_first() -> None:
    clocks = SlaClocks(
        policy_id="standard",
        version=2,
        clocks=(
            clock(ClockKind.FIRST_RESPONSE, ClockOutcome.BREACHED, 15),
            clock(ClockKind.RESOLUTION, ClockOutcome.RUNNING, 120),
        ),
    )
    assert clocks.next_due() == (T0 + timedelta(minutes=15), ClockKind.FIRST_RESPONSE)


def test_paused_or_stopped_clocks_give_no_next_due() -> None:
    clocks = SlaClocks(
        policy_id="standard",
        version=3,
        clocks=(
            clock(ClockKind.RESOLUTION, ClockOutcome.PAUSED, 120),
            clock(ClockKind.FIRST_RESPONSE, ClockOutcome.MET, 15, stopped=True),
        ),
    )
    assert clocks.next_due() is None
