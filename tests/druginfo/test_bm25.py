"""rxguard's BM25 gives the scores ``bm25s`` gives (Lucene variant, its defaults) on every
installed pack's corpus, in both languages, for questions made of the corpus' own terms."""

from __future__ import annotations

import random

import bm25s
import pytest

from rxguard.druginfo.ask import library
from rxguard.druginfo.bm25 import BM25
from rxguard.druginfo.retrieval import _document_text
from rxguard.druginfo.tokens import terms
from rxguard.knowledge.loader import Pack, load_all


@pytest.fixture(scope="module")
def packs() -> dict[str, Pack]:
    return load_all()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_scores_are_those_of_bm25s(packs: dict[str, Pack], lang: str) -> None:
    lib = library(packs)
    rng = random.Random(7)
    for drug in packs:
        index = lib.index(drug, lang)
        corpus = [terms(_document_text(p), index.segmenter, expand=False) or ["∅"] for p in index.passages]
        ours = BM25(corpus)
        theirs = bm25s.BM25()
        theirs.index(corpus, show_progress=False)
        vocabulary = sorted(ours.postings)
        for _ in range(40):
            query = rng.sample(vocabulary, k=rng.randint(1, 6))
            query += [query[0], "not-a-term-of-any-pack"]  # a repeated term counts twice
            expected = [float(x) for x in theirs.get_scores(query)]
            assert ours.get_scores(query) == pytest.approx(expected, rel=1e-5, abs=1e-6), (drug, lang, query)


def test_an_empty_query_and_unknown_terms_score_zero() -> None:
    index = BM25([["a", "b"], ["b", "c", "c"]])
    assert index.get_scores([]) == [0.0, 0.0]
    assert index.get_scores(["zzz"]) == [0.0, 0.0]
    assert index.get_scores(["c"])[1] > 0 and index.get_scores(["c"])[0] == 0
