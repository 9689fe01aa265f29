"""FHIR R4 -> PatientFacts. The only layer that knows FHIR JSON shapes."""

from rxguard.facts.fhir import FactsReader, iter_resources, parse_json
from rxguard.facts.labs import CORE_CATALOGUE, LabCatalogue, LabDef
from rxguard.facts.model import ClinicalItem, LabResult, MedicationUse, PatientFacts
from rxguard.facts.vocabulary import Vocabulary, core_vocabulary

__all__ = [
    "CORE_CATALOGUE",
    "ClinicalItem",
    "FactsReader",
    "LabCatalogue",
    "LabDef",
    "LabResult",
    "MedicationUse",
    "PatientFacts",
    "Vocabulary",
    "core_vocabulary",
    "iter_resources",
    "parse_json",
]
