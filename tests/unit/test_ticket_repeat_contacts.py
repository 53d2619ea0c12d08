"""The repeat-contact rule's similar wording (SPEC §1: a customer re-reporting the same open
problem is linked to it, not silently duplicated): pg_trgm's trigram similarity over the
normalised subject, kept only as keyed hashes, and the default threshold's examples."""

from __future__ import annotations

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets.domain import similarity, subject_grams

KEY = b"k" * 32


def alike(a: str, b: str, *, key: bytes = KEY) -> float:
    return similarity(subject_grams(a, key=key), subject_grams(b, key=key))


def test_the_same_words_in_any_order_case_or_punctuation_are_the_same_subject() -> None:
    assert alike("Invoice is wrong!", "wrong invoice IS") == 1.0


def test_the_default_threshold_links_rewordings_and_not_a_different_problem() -> None:
    threshold = IntakeSettings().repeat_similarity
    assert round(alike("my invoice is wrong", "Invoice is wrong!"), 2) == 0.84 >= threshold
    assert round(alike("still no refund received", "refund not received"), 2) == 0.64 >= threshold
    assert round(alike("invoice address change", "invoice is wrong"), 2) == 0.26 < threshold


def test_chinese_subjects_are_compared_by_character_pairs() -> None:
    threshold = IntakeSettings().repeat_similarity
    assert alike("我的快递还没到", "快递还没到") >= threshold
    assert alike("我的快递还没到", "发票开错了") == 0.0


def test_the_trigrams_are_keyed_per_customer_and_reveal_no_text() -> None:
    mine, theirs = subject_grams("Invoice is wrong", key=KEY), subject_grams("Invoice is wrong", key=b"o" * 32)
    assert similarity(mine, theirs) == 0.0
    assert all(isinstance(g, int) and -(2**31) <= g < 2**31 for g in mine)
