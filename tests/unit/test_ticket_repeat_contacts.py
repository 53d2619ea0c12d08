"""The repeat-contact rule's similar wording (SPEC §1: a customer re-reporting the same open
problem is linked to it, not silently duplicated): pg_trgm's trigram similarity over the
normalised subject, kept only as keyed hashes, and the default threshold's examples."""

from __future__ import annotations

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets.domain import similarity, subject_grams, subject_numbers

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


def test_the_numbers_of_a_subject_are_kept_apart_keyed_and_in_any_order() -> None:
    # "order 1234" and "order 5678" read alike, but the numbers say two problems
    assert alike("Order 1234 not delivered", "Order 5678 not delivered") >= IntakeSettings().repeat_similarity
    assert subject_numbers("Order 1234 not delivered", key=KEY) != subject_numbers("Order 5678 not delivered", key=KEY)
    assert subject_numbers("#1234, model X2 broken", key=KEY) == subject_numbers("x2 broken (1234)", key=KEY)
    assert subject_numbers("nothing numbered", key=KEY) == []
    assert subject_numbers("order 1234", key=KEY) != subject_numbers("order 1234", key=b"j" * 32)
