"""The knowledge base's pure rules: keywords, the query a ticket's text becomes, Chinese text's
character pairs, language tags, versions."""

from __future__ import annotations

import pytest

from ticketloop_intake.knowledge.domain import (
    cjk_grams,
    etag,
    language_tag,
    matches_version,
    normalise_keywords,
    suggestion_query,
)


def test_keywords_are_trimmed_case_folded_and_kept_once_in_order() -> None:
    assert normalise_keywords(["  Order   Status ", "REFUND", "order status", " "]) == ["order status", "refund"]


def test_a_tickets_text_becomes_an_any_word_query_of_distinct_words() -> None:
    assert suggestion_query("Charged twice! Charged, twice?") == "charged or twice"


def test_no_search_operator_survives_from_the_text() -> None:
    query = suggestion_query("""'&|!():* "quoted" -minus or OR a:* <-> x""")
    assert query == "quoted or minus"


def test_text_without_words_gives_no_query() -> None:
    assert suggestion_query("!!! ??? - _") is None
    assert suggestion_query("") is None


def test_a_long_description_is_capped_to_a_bounded_number_of_terms() -> None:
    words = " ".join(f"word{i}" for i in range(100))
    query = suggestion_query(words, max_terms=5)
    assert query == "word0 or word1 or word2 or word3 or word4"


def test_if_match_names_the_current_version_strong_weak_or_any() -> None:
    assert etag(3) == '"3"'
    assert matches_version('"3"', 3)
    assert matches_version('W/"3"', 3)
    assert matches_version('"1", "3"', 3)
    assert matches_version("*", 3)
    assert not matches_version('"2"', 3)
    assert not matches_version("3", 3)


def test_chinese_text_is_cut_into_overlapping_character_pairs() -> None:
    assert cjk_grams("如何退货？退货政策") == ["如何", "何退", "退货", "货政", "政策"]  # each pair once
    assert cjk_grams("如何退货") == ["如何", "何退", "退货"]
    assert cjk_grams("退") == ["退"]
    assert cjk_grams("refund 退货 policy") == ["退货"]
    assert cjk_grams("ＡＢＣ only latin") == []


def test_a_language_tag_is_checked_and_shaped_as_bcp_47_writes_it() -> None:
    assert [language_tag(t) for t in ("EN", "zh-hans", "pt-br", "zh-Hant-TW")] == [
        "en",
        "zh-Hans",
        "pt-BR",
        "zh-Hant-TW",
    ]
    for bad in ("english!", "e", "zh_CN", ""):
        with pytest.raises(ValueError):
            language_tag(bad)


def test_a_refresh_that_read_before_an_article_was_created_here_does_not_hide_it() -> None:
    from ticketloop_intake.knowledge.service import ActiveArticlesGuard

    guard = ActiveArticlesGuard()
    guard.remember("db", False, interval=30)
    began = guard.changes("db")  # the periodic refresh starts its read: no article yet
    guard.changed("db", any_active=True)  # an article is created (and committed) meanwhile
    guard.remember("db", False, interval=30, read_after=began)  # the refresh's stale answer
    assert guard.answer("db") is True
    guard.remember("db", False, interval=30, read_after=guard.changes("db"))  # a later read counts
    assert guard.answer("db") is False
