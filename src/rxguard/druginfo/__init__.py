"""Drug information generated from the knowledge packs: monographs and question answering.

Nothing here holds a fact. Monographs are built from a pack's ``monograph.yaml``
(cited statements in English and Chinese), its ``conflicts.yaml`` (where sources
disagree), ``schedule.yaml`` (the monitoring calendar), ``risk.yaml`` (risk
strata) and ``sources.yaml`` (titles, tiers, verification), so what a clinician
reads is what the engine enforces.
"""

from rxguard.druginfo.ask import Answer, answer_question
from rxguard.druginfo.formats import render_answer, render_monograph
from rxguard.druginfo.intents import classify_intent
from rxguard.druginfo.monograph import MonographDoc, build_monograph

__all__ = [
    "Answer",
    "MonographDoc",
    "answer_question",
    "build_monograph",
    "classify_intent",
    "render_answer",
    "render_monograph",
]
