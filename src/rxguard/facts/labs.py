"""The lab catalogue: which tests rules read, and how a FHIR result is recognised as one.

A lab is named by a key (``alt``, ``creatinine``) that rules, schedules and risk
models use. A result is recognised as that lab, in this order:

1. **Codes.** Any coding whose ``system|code`` (short system names, see
   :data:`rxguard.facts.vocabulary.SYSTEMS`) is one of the lab's codes: LOINC,
   a local code a pack lists, or rxguard's own ``urn:rxguard:lab|<key>``.
2. **Names.** The result's text or any coding's display, lower-cased with
   punctuation removed, equal to the lab's key, display or one of its names.
3. **Keywords.** The text or a display holding every word of one of the lab's
   keyword groups (``[brain, mri]`` reads "MRI of the brain with contrast").

A code always wins over words. Results are kept in the lab's canonical unit
(UCUM); :mod:`rxguard.facts.units` converts what is sent.

This module holds only the catalogue's mechanism and the generic labs many
drugs use (liver and kidney tests, blood counts, thyroid tests, pregnancy).
A lab that belongs to one drug is declared by that drug's knowledge pack
(``labs.yaml``); :func:`rxguard.knowledge.labs.catalogue_for` merges them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from rxguard.facts.vocabulary import normalize_text

LabKind = Literal["numeric", "qualitative", "presence"]
RXGUARD_LAB_SYSTEM = "urn:rxguard:lab"
# Short names the reader gives rxguard's own code systems (see vocabulary.SYSTEMS).
OWN_SYSTEMS = ("rxguard-lab", RXGUARD_LAB_SYSTEM, "rxguard-procedure")


@dataclass(frozen=True, slots=True)
class LabDef:
    """One lab: its key, codes (``system|code``), canonical UCUM unit and how its results read.

    ``positive``, ``negative`` and ``indeterminate`` are words or phrases of a qualitative
    result read before the generic ones ("detected", "not detected"); an indeterminate
    result is kept with a problem, so rules that read it say "could not verify".
    """

    key: str
    display: str
    codes: tuple[str, ...] = ()
    unit: str = ""
    kind: LabKind = "numeric"
    names: tuple[str, ...] = ()
    keywords: tuple[tuple[str, ...], ...] = ()
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    indeterminate: tuple[str, ...] = ()
    origin: str = "core"

    @property
    def loinc(self) -> tuple[str, ...]:
        return tuple(code.partition("|")[2] for code in self.codes if code.startswith("loinc|"))


def _merged(first: LabDef, second: LabDef) -> LabDef:
    """One lab declared twice with the same kind and unit: its codes, names and words together."""

    def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*a, *b)))

    return LabDef(
        first.key,
        first.display,
        union(first.codes, second.codes),
        first.unit,
        first.kind,
        union(first.names, second.names),
        tuple(dict.fromkeys((*first.keywords, *second.keywords))),
        union(first.positive, second.positive),
        union(first.negative, second.negative),
        union(first.indeterminate, second.indeterminate),
        f"{first.origin}, {second.origin}",
    )


class LabCatalogueError(ValueError):
    """Two labs claim the same key, code or name in different ways."""


class LabCatalogue(Mapping[str, LabDef]):
    """Lab key -> LabDef, with the indices the FHIR reader recognises results by."""

    def __init__(self, labs: Iterable[LabDef]) -> None:
        self._by_key: dict[str, LabDef] = {}
        self._by_code: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        self._keywords: list[tuple[frozenset[str], frozenset[str], str]] = []
        for lab in labs:
            self._add(lab)

    def _add(self, lab: LabDef) -> None:
        other = self._by_key.get(lab.key)
        if other is not None:
            if (other.kind, other.unit) != (lab.kind, lab.unit):
                raise LabCatalogueError(
                    f"lab {lab.key!r} is {other.kind} in {other.unit or 'no unit'} ({other.origin}) but "
                    f"{lab.kind} in {lab.unit or 'no unit'} ({lab.origin}); a lab key names one test everywhere"
                )
            lab = _merged(other, lab)
        self._by_key[lab.key] = lab
        for code in lab.codes:
            owner = self._by_code.setdefault(code, lab.key)
            if owner != lab.key:
                raise LabCatalogueError(
                    f"code {code!r} names two labs, {owner!r} and {lab.key!r} ({lab.origin}); a code names one lab"
                )
        for name in (lab.key, lab.display, *lab.names):
            norm = normalize_text(name)
            owner = self._by_name.setdefault(norm, lab.key) if norm else lab.key
            if owner != lab.key:
                raise LabCatalogueError(
                    f"name {name!r} names two labs, {owner!r} and {lab.key!r} ({lab.origin}); give it to one"
                )
        for group in lab.keywords:
            # A word written "-index" must be absent: [xv, antibody, -index] reads "XV antibody"
            # but leaves "XV antibody index" to the lab whose group names the index.
            required = frozenset(normalize_text(" ".join(w for w in group if not w.startswith("-"))).split())
            forbidden = frozenset(normalize_text(" ".join(w[1:] for w in group if w.startswith("-"))).split())
            if required:
                self._keywords.append((required, forbidden, lab.key))

    def __getitem__(self, key: str) -> LabDef:
        return self._by_key[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def with_labs(self, labs: Iterable[LabDef]) -> LabCatalogue:
        """This catalogue and ``labs`` (a LabCatalogueError when they clash)."""
        return LabCatalogue([*self._by_key.values(), *labs])

    def display(self, key: str) -> str:
        lab = self._by_key.get(key)
        return lab.display if lab is not None else key

    def key_for(self, codes: tuple[str, ...], text: str) -> str | None:
        """The lab a result is, by its codings (``system|code``) and then its text and displays."""
        for code in codes:
            system, _, value = code.partition("|")
            key = self._by_code.get(code)
            if key is not None:
                return key
            if system in OWN_SYSTEMS and value in self._by_key:
                return value
        if not text:
            return None
        parts = [normalize_text(part) for part in text.split(" / ")]
        for norm in parts:
            key = self._by_name.get(norm)
            if key is not None:
                return key
        for norm in parts:
            words = set(norm.split())
            for required, forbidden, key in self._keywords:
                if required <= words and not forbidden & words:
                    return key
        return None


# LOINC codes as listed in docs/fhir-input.md (clinical-facts §5.4 for the sources). The further ALT
# and AST codes and the SGPT/SGOT names are those of the value sets "Alanine Transaminase (ALT/SGPT) Lab
# Tests" and "Aspartate Transaminase (AST/SGOT) Lab Tests" of the dQM CMS Content IG (2026.1.0 CI build,
# expanded with LOINC 2.82) and "ALT (GPT) Method" / "AST (GOT) Method" of the Lithuanian Laboratory IG.
CORE_LABS: tuple[LabDef, ...] = (
    LabDef(
        "alt",
        "ALT",
        ("loinc|1742-6", "loinc|1743-4", "loinc|1744-2", "loinc|76625-3"),
        "U/L",
        names=("alanine aminotransferase", "alanine transaminase", "SGPT", "ALT/SGPT", "ALT (SGPT)"),
    ),
    LabDef(
        "ast",
        "AST",
        ("loinc|1920-8", "loinc|30239-8", "loinc|14409-7", "loinc|88112-8"),
        "U/L",
        names=("aspartate aminotransferase", "aspartate transaminase", "SGOT", "AST/SGOT", "AST (SGOT)"),
    ),
    LabDef("bilirubin-total", "Total bilirubin", ("loinc|1975-2",), "mg/dL"),
    LabDef("creatinine", "Creatinine", ("loinc|2160-0", "loinc|14682-9"), "mg/dL"),
    LabDef("egfr", "eGFR", ("loinc|33914-3", "loinc|62238-1", "loinc|98979-8"), "mL/min/{1.73_m2}"),
    LabDef("platelets", "Platelets", ("loinc|777-3",), "10*3/uL"),
    LabDef("lymphocytes", "Lymphocytes", ("loinc|731-0",), "10*3/uL"),
    LabDef("neutrophils", "Neutrophils", ("loinc|751-8",), "10*3/uL"),
    LabDef("hemoglobin", "Haemoglobin", ("loinc|718-7",), "g/dL"),
    LabDef("tsh", "TSH", ("loinc|3016-3",), "m[IU]/L"),
    LabDef("free-t4", "Free T4", ("loinc|3024-7",), "ng/dL"),
    LabDef("pregnancy-status", "Pregnancy status", ("loinc|82810-3",), kind="qualitative"),
    LabDef("breastfeeding-status", "Breastfeeding status", ("loinc|63895-7",), kind="qualitative"),
    LabDef("cbc", "Complete blood count", ("loinc|58410-2",), kind="presence"),
    LabDef("brain-mri", "Brain MRI", kind="presence", names=("MRI brain",), keywords=(("brain", "mri"),)),
    # Gestational age: LOINC codes of the VSAC value set "Estimated Gestational Age at Delivery"
    # (2.16.840.1.113762.1.4.1045.26).
    LabDef(
        "gestational-age", "Gestational age", ("loinc|49051-6", "loinc|11884-4", "loinc|18185-9", "loinc|11885-1"), "wk"
    ),
)
CORE_CATALOGUE = LabCatalogue(CORE_LABS)
