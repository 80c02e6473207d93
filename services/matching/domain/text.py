"""Light Danish text normalisation for comparing skill phrases and titles."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_STOP = frozenset(
    [
        "af",
        "og",
        "i",
        "på",
        "til",
        "med",
        "for",
        "en",
        "et",
        "den",
        "det",
        "de",
        "som",
        "at",
        "eller",
        "samt",
        "fra",
        "ved",
        "of",
        "and",
        "the",
        "in",
        "on",
        "to",
        "a",
        "an",
    ]
)
_SUFFIXES = ("erne", "ene", "ing", "er", "en", "et", "e")
_WORD = re.compile(r"[a-zæøå0-9]+")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold().strip()


def stem(word: str) -> str:
    """A crude suffix strip so that 'varer' ~ 'vare' and 'pakning' ~ 'pakke' at prefix level."""
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> frozenset[str]:
    """Content words of a phrase, stemmed."""
    return frozenset(stem(w) for w in _WORD.findall(normalise(text)) if w not in _STOP)


def _same_term(a: str, b: str) -> bool:
    # Danish compounds: 'opvask' should meet 'opvaskemaskine', so compare on a shared prefix.
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 4 and long_.startswith(short)


# One card against every open order asks the same few (requested skill, card skill) phrase
# pairs again and again: memoised, this was half of applying a card change.
@lru_cache(maxsize=1 << 16)
def phrase_covered(required: frozenset[str], available: frozenset[str]) -> bool:
    """True when every content word of the required phrase appears among `available`."""
    return bool(required) and all(any(_same_term(r, a) for a in available) for r in required)
