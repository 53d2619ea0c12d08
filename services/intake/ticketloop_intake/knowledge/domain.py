"""The rules of the knowledge base, as pure functions: keyword normalisation, the query a
ticket's text becomes, and article versions as ETags."""

from __future__ import annotations

import re

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


def etag(version: int) -> str:
    """An article version as an HTTP entity tag."""
    return f'"{version}"'


def matches_version(if_match: str, version: int) -> bool:
    """Whether an `If-Match` value names this version (`*` names any; a weak tag is accepted,
    an article has no other representation)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return any(tag == "*" or tag == etag(version) for tag in tags)
