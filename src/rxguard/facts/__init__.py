"""FHIR R4 -> PatientFacts. The only layer that knows FHIR JSON shapes."""

from rxguard.facts.fhir import FactsReader, iter_resources, parse_json
from rxguard.facts.model import LAB_BY_KEY, LABS, ClinicalItem, LabResult, MedicationUse, PatientFacts
from rxguard.facts.vocabulary import Vocabulary, core_vocabulary

__all__ = [
    "LABS",
    "LAB_BY_KEY",
    "ClinicalItem",
    "FactsReader",
    "LabResult",
    "MedicationUse",
    "PatientFacts",
    "Vocabulary",
    "core_vocabulary",
    "iter_resources",
    "parse_json",
]
