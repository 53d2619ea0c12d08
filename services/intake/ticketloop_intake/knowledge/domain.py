"""The rules of the knowledge base, as pure functions: keyword normalisation, the query a
ticket's text becomes, the character bigrams Chinese, Japanese and Korean text is matched on,
language tags, and article versions as ETags."""

from __future__ import annotations

import re
import unicodedata

# At most this many articles are suggested for one ticket.
MAX_SUGGESTIONS = 3
# A ticket's text becomes a query of at most this many distinct words: enough to find the
# right article, few enough that the query stays cheap on a long description.
MAX_QUERY_TERMS = 32
# `websearch_to_tsquery` reads a bare "or" as the operator, so it is never a term itself.
_OPERATOR_WORDS = frozenset({"or"})
_WORD = re.compile(r"[^\W_]+")
_SPACES = re.compile(r"\s+")


def normalise_keywords(keywords: list[str]) -> list[str]:
    """Keywords as stored: trimmed, inner spaces collapsed, case-folded, each once, in the
    order given (so an edit that only changes case is not a change)."""
    seen: dict[str, None] = {}
    for keyword in keywords:
        clean = _SPACES.sub(" ", keyword).strip().casefold()
        if clean:
            seen.setdefault(clean, None)
    return list(seen)


def suggestion_query(text: str, *, max_terms: int = MAX_QUERY_TERMS) -> str | None:
    """The `websearch_to_tsquery` input that matches any meaningful word of a ticket's text
    ("charged twice" → "charged or twice"); None when the text has no word at all.

    Any-word, not all-words: a customer's description never repeats an article word for word,
    and `ts_rank` puts the article sharing the most (and the weightiest) words first. Only
    letters and digits survive, so no operator of the search syntax can come from the text.
    """
    words: dict[str, None] = {}
    for match in _WORD.finditer(text.casefold()):
        word = match.group()
        if len(word) > 1 and word not in _OPERATOR_WORDS:
            words.setdefault(word, None)
            if len(words) == max_terms:
                break
    return " or ".join(words) or None


# At most this many bigrams of a question are looked for (a long description adds nothing but cost).
MAX_QUERY_GRAMS = 64
# Kana, CJK ideographs (with extensions and compatibility forms) and Hangul: written without
# spaces between words, so PostgreSQL's parsers see a whole clause as one "word".
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f]+")
# A BCP-47 tag as articles carry it: a language, then optional script, region or variant subtags.
_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def cjk_grams(*texts: str, limit: int | None = None) -> list[str]:
    """The distinct overlapping character pairs of every run of CJK characters in `texts` (a
    lone character is its own gram), in order of appearance: "如何退货" gives 如何, 何退, 退货.
    The usual way to search text written without spaces (no dictionary, no segmenter): a
    question and an answer about 退货 share the bigram whatever surrounds it. Compatibility
    forms are unified first (full-width and half-width alike)."""
    seen: dict[str, None] = {}
    for text in texts:
        for run in _CJK_RUN.findall(unicodedata.normalize("NFKC", text)):
            for gram in [run] if len(run) == 1 else (run[i : i + 2] for i in range(len(run) - 1)):
                seen.setdefault(gram, None)
                if limit is not None and len(seen) >= limit:
                    return list(seen)
    return list(seen)


def language_tag(value: str) -> str:
    """A BCP-47 tag in its conventional case ("ZH-hans-cn" → "zh-Hans-CN"): the language lower,
    a four-letter script title-cased, a two-letter region upper; ValueError if it is not one."""
    if not _TAG.fullmatch(value):
        raise ValueError(f"{value!r} is not a BCP-47 language tag (e.g. en, zh-Hans, pt-BR)")
    first, *rest = value.split("-")
    shaped = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            shaped.append(part.title())
        elif len(part) == 2 and part.isalpha():
            shaped.append(part.upper())
        else:
            shaped.append(part.lower())
    return "-".join(shaped)


def etag(version: int) -> str:
    """An article version as an HTTP entity tag."""
    return f'"{version}"'


def matches_version(if_match: str, version: int) -> bool:
    """Whether an `If-Match` value names this version (`*` names any; a weak tag is accepted,
    an article has no other representation)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return any(tag == "*" or tag == etag(version) for tag in tags)
