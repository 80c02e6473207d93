"""Which phrases could cover a required skill phrase, without comparing it to all of them.

`text.phrase_covered` matches terms that are equal, or where the shorter (of at least four
letters) starts the longer. So a term of four letters or more can only meet terms with the
same first four letters, and a shorter one only itself: phrases are filed under those keys
per term, and a required phrase's candidates are the phrases filed under the key of every
one of its terms. Candidates are then checked with `phrase_covered` itself: the result is
exactly the full scan's, at the cost of the candidates only.
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIX = 4


def term_key(term: str) -> str:
    return term[:PREFIX] if len(term) >= PREFIX else term


class PhraseKeys:
    def __init__(self) -> None:
        self._by_key: dict[str, set[int]] = {}

    def add(self, phrase_id: int, terms: Iterable[str]) -> None:
        for term in terms:
            self._by_key.setdefault(term_key(term), set()).add(phrase_id)

    def candidates(self, required: frozenset[str], lo: int, hi: int) -> set[int]:
        """Phrase ids in [lo, hi) that have, for each required term, a term it may meet."""
        if not required:
            return set()
        found: set[int] | None = None
        keys = sorted({term_key(t) for t in required}, key=lambda k: len(self._by_key.get(k, ())))
        for key in keys:  # the rarest key first: the smallest set to intersect
            ids = self._by_key.get(key)
            if not ids:
                return set()
            found = {i for i in ids if lo <= i < hi} if found is None else found & ids
            if not found:
                return set()
        return found or set()
