"""Drug information generated from the knowledge packs: monographs and question answering.

Nothing here holds a fact. Monographs are built from a pack's ``monograph.yaml``
(cited statements in English and Chinese), its ``conflicts.yaml`` (where sources
disagree), ``schedule.yaml`` (the monitoring calendar), ``risk.yaml`` (PML
strata) and ``sources.yaml`` (titles, tiers, verification), so what a clinician
reads is what the engine enforces.
"""
