"""BM25 scores of a small corpus, in plain Python.

The Lucene variant of BM25 as ``bm25s`` computes it (its default: ``k1 = 1.5``, ``b = 0.75``,
``idf = log(1 + (N - df + 0.5) / (df + 0.5))``, term-frequency part
``tf / (k1 * (1 - b + b * dl / avgdl) + tf)``, a query term counted as often as it occurs,
terms the corpus lacks ignored). A pack's monograph is a few hundred passages, so a dict of
postings scores a question in well under a millisecond, without importing numpy: importing
``bm25s`` and numpy cost more than answering the question. ``tests/druginfo/test_bm25.py``
checks the scores against ``bm25s`` on every pack's corpus.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

K1 = 1.5
B = 0.75


class BM25:
    """Postings of a tokenised corpus; :meth:`get_scores` gives one score per document."""

    def __init__(self, corpus: Sequence[Sequence[str]], *, k1: float = K1, b: float = B) -> None:
        self.n = len(corpus)
        lengths = [len(doc) for doc in corpus]
        average = sum(lengths) / self.n if self.n else 0.0
        counts = [Counter(doc) for doc in corpus]
        frequency: Counter[str] = Counter(term for c in counts for term in c)
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for doc, (c, length) in enumerate(zip(counts, lengths, strict=True)):
            norm = k1 * ((1 - b) + b * length / average) if average else k1
            for term, tf in c.items():
                idf = math.log(1 + (self.n - frequency[term] + 0.5) / (frequency[term] + 0.5))
                self.postings.setdefault(term, []).append((doc, idf * tf / (norm + tf)))

    def get_scores(self, query: Sequence[str]) -> list[float]:
        scores = [0.0] * self.n
        for term in query:
            for doc, weight in self.postings.get(term, ()):
                scores[doc] += weight
        return scores
