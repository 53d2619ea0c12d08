"""Finding tickets by the words of their subject and description, which are sealed per customer.

The texts are stored sealed with each customer's own key (`ticketloop_shared/sealing.py`), so PostgreSQL
cannot search them, and a plain full-text index would put the very words the sealing hides back
on disk. Instead each ticket gets a *keyed token index*: the subject and description are
normalised into terms (`terms`: lower-cased, accents folded, short stop words dropped, CJK text
cut into overlapping character bigrams so Chinese and Japanese, written without spaces, can be
found), and each term is stored only as `HMAC-SHA256(search key, term)` in `ticket_words`
(token, ticket id). A query is normalised and hashed the same way; a ticket matches when it has
every token of the query (AND).

Why this leaks no plaintext: a stored token is the output of a keyed pseudo-random function.
Without the search key (derived from intake's master key, which never reaches the database) a
token cannot be reversed, and cannot even be tested against a guessed word (a plain SHA-256 of
"invoice" could be; an HMAC under an unknown key cannot). No word, stem or prefix is stored.
Erasing a customer's personal data deletes their tickets' tokens (`tickets/service.py`
`erase_customer`), so nothing derived from their texts stays behind.

Its honest limits: the hashing is deterministic within one install (it has to be, to find
anything), so equal words give equal tokens. Someone who can read the table sees which tickets
share a word and how common each token is, and could use those frequencies to guess the most
common words; someone who also holds the master key can test guesses outright. Words are matched
whole (no prefixes, no typo tolerance), and only the first `MAX_TERMS` distinct terms of a ticket
are indexed, to bound the cost of a long description on the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable

# Kana, CJK ideographs (with extensions and compatibility forms) and Hangul syllables: scripts
# written without spaces between words (Korean has spaces, and bigrams suit it as well).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f"
# A run of CJK characters, or a run of other letters and digits (underscore and punctuation split).
_PIECES = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
# A piece is all CJK or has none (`_PIECES`): its first character says which.
_CJK_START = re.compile(rf"[{_CJK}]")
# Words too common to tell tickets apart (compared after folding), in the languages customers
# write in most: English, French, German, Spanish, Italian, Dutch, Portuguese.
STOP_WORDS = frozenset(
    """
    a an and are as at be but by do for from had has have he her his i if in into is it its me my
    no not of on or our she so than that the their them then there they this to us was we were
    what when which who will with you your
    au aux avec ce ces dans de des du elle en est et il ils je la le les leur ma mais me mes moi mon
    ne nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre
    vous y
    am auf aus bei bin das dem den der des die ein eine einem einen einer es hat ich ihr im ist mit
    nach nicht noch nur oder sie sind und uns von war wir zu zum zur
    al con del el ella eso esta este las lo los mi mis por se su sus una uno unos
    che di gli il io lei ma nel per sono
    een het ik is niet op te van voor zijn
    ao da das do dos em na nas no nos um uma
    """.split()
)
# A ticket's subject and description yield at most this many distinct terms (its first ones).
MAX_TERMS = 512
# A query's words beyond this many add nothing but cost.
MAX_QUERY_TERMS = 32


# Kana voicing marks are combining characters too, but they make a different letter (ハ, バ, パ).
_KEPT_MARKS = frozenset("\u3099\u309a")


class _Unmarked(dict[int, int | None]):
    """`str.translate` table that drops combining marks (but `_KEPT_MARKS`), each code point
    decided once: the same rule as a per-character `unicodedata.combining` test, in C's loop."""

    def __missing__(self, code: int) -> int | None:
        ch = chr(code)
        kept = ch in _KEPT_MARKS or not unicodedata.combining(ch)
        self[code] = code if kept else None
        return self[code]


_UNMARKED = _Unmarked()


def fold(text: str) -> str:
    """`text` lower-cased with accents removed ("Émile" → "emile", "Straße" → "strasse"),
    compatibility forms unified (full-width "ＡＢＣ" → "abc"); kana keep their voicing marks and
    Hangul stays composed. Plain ASCII has nothing to fold but case (the hot path: a ticket's
    description is folded as it is accepted)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if decomposed.isascii():
        return decomposed
    return unicodedata.normalize("NFC", decomposed.translate(_UNMARKED))


def _is_cjk(piece: str) -> bool:
    return _CJK_START.match(piece) is not None


def terms(*texts: str, limit: int = MAX_TERMS) -> list[str]:
    """The distinct searchable terms of `texts`, in order of first appearance: folded words of
    two or more characters that are not stop words, and for CJK runs their overlapping character
    bigrams (a lone CJK character is its own term). The same function serves the ticket and the
    query, so a word dropped from one is dropped from the other."""
    seen: dict[str, None] = {}
    for text in texts:
        for piece in dict.fromkeys(_PIECES.findall(fold(text))):  # a repeated word is one term
            if _is_cjk(piece):
                found: Iterable[str] = [piece] if len(piece) == 1 else (piece[i : i + 2] for i in range(len(piece) - 1))
            elif len(piece) < 2 or piece in STOP_WORDS:
                continue
            else:
                found = (piece[:64],)
            for term in found:
                if term not in seen:
                    seen[term] = None
                    if len(seen) >= limit:
                        return list(seen)
    return list(seen)


def token(key: bytes, term: str) -> bytes:
    """What the index stores for `term`: its HMAC-SHA256 under the install's search key."""
    return hmac.digest(key, term.encode(), hashlib.sha256)


def ticket_tokens(key: bytes, subject: str, description: str) -> list[bytes]:
    """The index tokens of a ticket's subject and description (subject terms first)."""
    return [token(key, t) for t in terms(subject, description)]


def query_tokens(key: bytes, query: str) -> list[bytes]:
    """The tokens a ticket must all have to match `query` (empty: the query has no searchable word)."""
    return [token(key, t) for t in terms(query, limit=MAX_QUERY_TERMS)]
