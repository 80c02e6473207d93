"""Columnar scoring: one job order against every card at once (and one card against many orders).

`CardIndex` keeps the cards as compact numpy columns plus inverted indexes (skill -> cards,
phrase -> cards, certificate -> cards, ...), so scoring an order is a handful of vector
operations instead of a Python loop over pairs. Results equal the per-pair code
(`scoring.score`, `learned.LearnedScorer`): admissibility exactly, scores to float rounding.

Exactness, and how it is kept cheap:

* Occupation similarity is looked up per occupation *vocabulary entry* (a few thousand), with
  ISCO prefixes compared as interned strings, so it is the per-pair rule exactly.
* Distances come from the scorer's own distance function, called once per distinct postal
  code of the cards (about 1,100 in Denmark) per order postal code, and cached.
* The implied skill weights are `pair_features._card_skill_weights` itself, stored per
  (card, skill) as a code into a table of the distinct float64 weights.
* Text phrase matching (`phrase_covered`) is evaluated once per (required phrase, distinct card
  phrase) and cached, for the candidate phrases that share each term's first four letters
  (`phrases`); cards reach their phrases through an inverted index. No approximation.
* Text features (`texts.TextTable`): each distinct card text (title, wish, skill phrase) is
  one vector; an order's cosines with all of them are one sparse product, cached per text.
* The learned model's top k (`pruning`): features the model weighs 0 are not computed; the
  cheap features of every admissible card bound its logit, and the dear ones (experience,
  wishes, texts) are computed only for the cards whose upper bound can still reach the k-th
  best score. The ranking is exactly that of scoring every card.

Modules: `columns` (vocabularies, CSR postings, ragged lists), `occupations` (occupation
similarity and skill overlap tables), `phrases` (candidate phrases per requested phrase),
`texts` (distinct texts), `card_index` (`CardIndex`: an order against all cards),
`pruning` (the learned model's top k without scoring every card in full),
`order_index` (`OrderIndex`: a card against all orders), `scorers` (`column_scorer`: the
column-wise twin of a per-pair scorer, one interface for the rule score and the model).

Storage is append-only with tombstones: an update appends a new row and kills the old one;
removals kill rows; dead rows are compacted away once they exceed a quarter of all rows.
Inverted indexes are a key-sorted CSR base plus an append-only delta merged when it grows.
"""

from services.matching.domain.vectorized.card_index import (
    RESIDENCE,
    TARGET_GROUP,
    CardIndex,
    OrderTables,
)
from services.matching.domain.vectorized.columns import Postings, Ragged, Vocab, round4
from services.matching.domain.vectorized.occupations import OccupationTable
from services.matching.domain.vectorized.order_index import OrderIndex
from services.matching.domain.vectorized.scorers import (
    ColumnScorer,
    LearnedColumns,
    RuleColumns,
    column_scorer,
)

__all__ = [
    "RESIDENCE",
    "TARGET_GROUP",
    "CardIndex",
    "ColumnScorer",
    "LearnedColumns",
    "OccupationTable",
    "OrderIndex",
    "OrderTables",
    "Postings",
    "Ragged",
    "RuleColumns",
    "Vocab",
    "column_scorer",
    "round4",
]
