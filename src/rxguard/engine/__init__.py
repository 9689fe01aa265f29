"""The assessment engine: pure, deterministic, fast."""

from rxguard.engine.assess import assess, compile_pack
from rxguard.engine.facts import read_facts, reader_for, vocabulary_for
from rxguard.engine.model import Assessment, DueItem, Finding, SourceRef, StratumResult

__all__ = [
    "Assessment",
    "DueItem",
    "Finding",
    "SourceRef",
    "StratumResult",
    "assess",
    "compile_pack",
    "read_facts",
    "reader_for",
    "vocabulary_for",
]
