"""FHIR R4 JSON -> PatientFacts.

The only module that knows FHIR JSON shapes. It reads a Bundle (collection,
transaction, searchset, batch, document) or a CDS Hooks prefetch object and
keeps only what rules use; it does not validate whole resources (that costs
milliseconds per bundle and answers no clinical question). Anything it does
read must have the type FHIR R4 gives it, or a :class:`FactsError` names the
resource and the field. ``docs/fhir-input.md`` documents the input profile.
"""

from __future__ import annotations

import calendar
import dataclasses
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import orjson

from rxguard.errors import FactsError
from rxguard.facts import units
from rxguard.facts.identity import PatientEntry, choose_patient, distinct_patients, named_subject, owner_of
from rxguard.facts.labs import CORE_CATALOGUE, LabCatalogue, LabDef
from rxguard.facts.model import (
    ClinicalItem,
    LabResult,
    MedicationUse,
    PatientFacts,
    Sex,
    Unreadable,
)
from rxguard.facts.vocabulary import SYSTEMS, Reading, Vocabulary, normalize_text, short_system
from rxguard.messages import said

# Statuses under which a resource says nothing happened or it was recorded in error: never read.
_SKIP_STATUS = frozenset({"entered-in-error", "cancelled", "not-done", "refuted", "not-taken", "declined"})
# Words that make a coded or text result read positive / negative ("Patient currently pregnant", "Not detected").
_POSITIVE_WORDS = frozenset(
    {"positive", "pos", "detected", "reactive", "present", "yes", "true", "pregnant", "lactating", "breastfeeding"}
)
_NEGATIVE_WORDS = frozenset({"negative", "neg", "not", "no", "non", "nonreactive", "absent", "false", "undetected"})
# Coded qualitative results (valueCodeableConcept sent with a code and no words). SNOMED CT
# qualifier values as listed by WHO's SMART DDCC value set "Lab Test - Qualitative Result - SNOMED CT"
# (lab-test-qual-result-snomed) and HL7's mCODE PositiveNegativeVS; LOINC answers of the answer
# lists LL1055-4 (Detected|Not det|Equiv|Inconcl|Spec unsat for eval) and LL2206-2
# (Neg|Borderline|Pos|Strong Pos) as the SMART Health Cards value set of laboratory results lists them.
RESULT_CODES: dict[str, str] = {
    "sct|10828004": "positive",  # Positive
    "sct|11214006": "positive",  # Reactive
    "sct|260373001": "positive",  # Detected
    "sct|260385009": "negative",  # Negative
    "sct|131194007": "negative",  # Non-reactive
    "sct|260415000": "negative",  # Not detected
    "sct|82334004": "indeterminate",  # Indeterminate
    "sct|42425007": "indeterminate",  # Equivocal
    "sct|419984006": "indeterminate",  # Inconclusive
    "sct|125154007": "indeterminate",  # Specimen unsatisfactory for evaluation
    "sct|455371000124106": "indeterminate",  # Invalid result
    "loinc|LA6576-8": "positive",  # Positive
    "loinc|LA18996-1": "positive",  # Strong positive
    "loinc|LA11882-0": "positive",  # Detected
    "loinc|LA6577-6": "negative",  # Negative
    "loinc|LA11883-8": "negative",  # Not detected
    "loinc|LA4259-3": "indeterminate",  # Borderline
    "loinc|LA11885-3": "indeterminate",  # Equivocal
    "loinc|LA9663-1": "indeterminate",  # Inconclusive
    "loinc|LA13548-5": "indeterminate",  # Specimen unsatisfactory for evaluation
}
_RESULT_DISPLAYS = {"positive": "coded positive", "negative": "coded negative", "indeterminate": "coded indeterminate"}
# Observation.interpretation codes (HL7 v3 ObservationInterpretation) read when there is no value.
_INTERPRETATION_CODES = {
    "POS": "positive", "NEG": "negative", "DET": "positive", "ND": "negative", "IND": "indeterminate",
}  # fmt: skip
_INACTIVE_CLINICAL = frozenset({"inactive", "remission", "resolved"})
# verificationStatus codes under which a Condition (or an allergy, unconfirmed) is not established:
# FHIR R4 condition-ver-status "provisional" (a tentative diagnosis), "differential" (one of a set of
# potential diagnoses), "unconfirmed"; allergyintolerance-verification "unconfirmed".
_UNCERTAIN_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})
# FHIR R4 condition-clinical codes under which the condition is not active but not said to be over.
_STILL_PRESENT_CLINICAL = frozenset({"inactive", "remission"})
_SEVERITY_ORDER = {"mild": 1, "moderate": 2, "severe": 3}


class _Where:
    """Names the resource being read, for error messages."""

    __slots__ = ("label",)

    def __init__(self, resource: Mapping[str, Any]) -> None:
        rid = resource.get("id")
        self.label = (
            f"{resource.get('resourceType')}/{rid}" if isinstance(rid, str) else str(resource.get("resourceType"))
        )

    def fail(self, field: str, expected: str) -> FactsError:
        return FactsError(
            f"{self.label}: field {field!r} should be {expected}; fix the resource or leave the field out"
        )


def _str(res: Mapping[str, Any], key: str, where: _Where) -> str:
    value = res.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise where.fail(key, "a string")
    return value


def _dict(res: Mapping[str, Any], key: str, where: _Where) -> Mapping[str, Any]:
    value = res.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.fail(key, "an object")
    return value


def _list(res: Mapping[str, Any], key: str, where: _Where) -> list[Any]:
    value = res.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.fail(key, "an array")
    return value


def parse_date(value: Any, field: str, where: _Where, *, last: bool = False) -> date | None:
    """FHIR date, dateTime or instant -> date.

    A partial date ("2025", "2025-03") takes its first day, or its last day with ``last`` (the end
    of a period sent as "2026-01" is the end of January, not its first day).
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < 4:
        raise where.fail(field, "a FHIR date or dateTime such as 2026-01-05")
    try:
        if len(value) == 4:
            return date(int(value), 12, 31) if last else date(int(value), 1, 1)
        if len(value) == 7:
            year, month = int(value[:4]), int(value[5:7])
            return date(year, month, calendar.monthrange(year, month)[1] if last else 1)
        return date.fromisoformat(value[:10])
    except ValueError:
        raise where.fail(field, "a FHIR date or dateTime such as 2026-01-05") from None


def _partial(value: Any) -> str:
    """The value as sent when it is a partial date (a year, or a year and month), else ""."""
    return value if isinstance(value, str) and len(value) in (4, 7) else ""


def _codeable(res: Mapping[str, Any], key: str, where: _Where) -> tuple[tuple[str, ...], str]:
    """(``system|code`` tuple, text) of a CodeableConcept, text falling back to displays."""
    concept = _dict(res, key, where)
    codes: list[str] = []
    texts: list[str] = []
    for coding in _list(concept, "coding", where):
        if not isinstance(coding, dict):
            raise where.fail(f"{key}.coding", "an array of Coding objects")
        system, code = coding.get("system"), coding.get("code")
        if isinstance(code, str):
            codes.append(f"{short_system(system) if isinstance(system, str) else ''}|{code}")
        display = coding.get("display")
        if isinstance(display, str):
            texts.append(display)
    text = concept.get("text")
    if isinstance(text, str) and text:
        texts.insert(0, text)
    return tuple(codes), " / ".join(texts)


def _first_code(res: Mapping[str, Any], key: str, where: _Where) -> str:
    concept = _dict(res, key, where)
    for coding in _list(concept, "coding", where):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return ""


def _period_or_datetime(res: Mapping[str, Any], prefix: str, where: _Where) -> tuple[date | None, date | None]:
    """(first day, last day) of ``<prefix>DateTime`` / ``Instant`` / ``Date`` or ``<prefix>Period``.

    A partial date covers its whole year or month: "2026-01" is 2026-01-01 to 2026-01-31.
    """
    for shape in ("DateTime", "Instant", "Date"):
        if f"{prefix}{shape}" in res:
            field = f"{prefix}{shape}"
            return parse_date(res[field], field, where), parse_date(res[field], field, where, last=True)
    period = _dict(res, f"{prefix}Period", where)
    if period:
        return parse_date(period.get("start"), f"{prefix}Period.start", where), parse_date(
            period.get("end"), f"{prefix}Period.end", where, last=True
        )
    return None, None


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


_AGE_MONTHS = {"a": 12, "mo": 1}
_AGE_DAYS = {"wk": 7, "d": 1}


def _age_range(age: Mapping[str, Any], birth: date | None) -> tuple[date | None, date | None]:
    """(first day, last day) a FHIR Age (years ``a``, months ``mo``, weeks ``wk``, days ``d``) can be, from the birth date."""
    value = age.get("value")
    unit = age.get("code") if isinstance(age.get("code"), str) else age.get("unit")
    if birth is None or isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None, None
    whole = int(value)
    if unit in _AGE_MONTHS:
        step = _AGE_MONTHS[unit]
        return _add_months(birth, whole * step), _add_months(birth, (whole + 1) * step) - timedelta(days=1)
    if unit in _AGE_DAYS:
        step = _AGE_DAYS[unit]
        return birth + timedelta(days=whole * step), birth + timedelta(days=(whole + 1) * step - 1)
    return None, None


def _when_began(
    res: Mapping[str, Any], prefix: str, where: _Where, birth: date | None
) -> tuple[date | None, date | None, str]:
    """(earliest, latest, as sent when imprecise) of an onset[x] or abatement[x]: a date (a partial one
    covers its year or month), a Period (its start), an Age or Range of ages (from the birth date), or
    words, which give no date."""
    for shape in ("DateTime", "Instant", "Date"):
        field = f"{prefix}{shape}"
        if field in res:
            value = res[field]
            return parse_date(value, field, where), parse_date(value, field, where, last=True), _partial(value)
    period = _dict(res, f"{prefix}Period", where)
    if period:
        start, end = period.get("start"), period.get("end")
        if start is not None:
            field = f"{prefix}Period.start"
            return parse_date(start, field, where), parse_date(start, field, where, last=True), _partial(start)
        return None, parse_date(end, f"{prefix}Period.end", where, last=True), f"before {end}" if end else ""
    age = _dict(res, f"{prefix}Age", where)
    if age:
        first, latest = _age_range(age, birth)
        return first, latest, f"at age {age.get('value')} {age.get('unit') or age.get('code') or ''}".strip()
    ages = _dict(res, f"{prefix}Range", where)
    if ages:
        low, _ = _age_range(_dict(ages, "low", where), birth)
        _, high = _age_range(_dict(ages, "high", where), birth)
        return low, high, "at an age range"
    words = res.get(f"{prefix}String")
    if isinstance(words, str) and words.strip():
        return None, None, words.strip()
    return None, None, ""


def _contained_results(container: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Resources rxguard reads that another resource carries in ``contained`` (a DiagnosticReport's
    result Observations): each about the container's patient unless it names its own subject."""
    contained = container.get("contained")
    if not isinstance(contained, list) or container.get("status") in _SKIP_STATUS:
        return
    owner = {key: container[key] for key in ("subject", "patient") if isinstance(container.get(key), dict)}
    cid = container.get("id")
    for item in contained:
        if not isinstance(item, dict) or item.get("resourceType") not in _READERS:
            continue
        res = dict(item)
        if not any(isinstance(res.get(key), dict) for key in ("subject", "patient")):
            res.update(owner)
        res["id"] = f"{cid}#{item.get('id')}" if isinstance(cid, str) else f"#{item.get('id')}"
        res["resourceType"] = item["resourceType"]
        yield res


def _birth_date(chosen: PatientEntry, held: PatientFacts | None) -> date | None:
    if held is not None:
        return held.birth_date
    value = chosen.resource.get("birthDate")
    try:
        return parse_date(value, "birthDate", _Where(chosen.resource))
    except FactsError:
        return None  # the Patient's own reading names the field


def iter_entries(data: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(fullUrl or "", resource) for every resource in a Bundle or CDS Hooks prefetch (nested Bundles too)."""
    if not isinstance(data, dict):
        raise FactsError("input is not a JSON object; send a FHIR R4 Bundle or a CDS Hooks prefetch object")
    rtype = data.get("resourceType")
    if rtype == "Bundle":
        entries = data.get("entry", [])
        if not isinstance(entries, list):
            raise FactsError("Bundle.entry should be an array of entries")
        for entry in entries:
            if not isinstance(entry, dict):
                raise FactsError("Bundle.entry should be an array of objects")
            resource = entry.get("resource")
            if resource is None:
                continue
            if not isinstance(resource, dict):
                raise FactsError("Bundle.entry.resource should be an object")
            if not isinstance(resource.get("resourceType"), str | None):
                raise FactsError("Bundle.entry.resource.resourceType should be a string, e.g. 'Condition'")
            if resource.get("resourceType") == "Bundle":
                yield from iter_entries(resource)
            else:
                full_url = entry.get("fullUrl")
                yield (full_url if isinstance(full_url, str) else ""), resource
    elif isinstance(rtype, str):
        yield "", data
    elif rtype is None and data and all(v is None or isinstance(v, dict) for v in data.values()):
        for value in data.values():  # a CDS Hooks prefetch: {key: resource or Bundle or null}
            if value is not None:
                yield from iter_entries(value)
    else:
        raise FactsError("input is not a FHIR R4 Bundle (resourceType 'Bundle' expected)")


def iter_resources(data: Any) -> Iterator[Mapping[str, Any]]:
    """Every resource in a Bundle or in a CDS Hooks prefetch (nested Bundles included)."""
    for _, resource in iter_entries(data):
        yield resource


def parse_json(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FactsError(f"input is not valid JSON ({exc}); send a FHIR R4 Bundle as JSON") from None


class FactsReader:
    """Reads FHIR resources into PatientFacts, tagging items with a Vocabulary.

    ``labs`` is the lab catalogue results are recognised by (the core labs unless
    the packs' catalogue is given, see :func:`rxguard.knowledge.labs.catalogue_for`).
    """

    def __init__(self, vocabulary: Vocabulary, labs: LabCatalogue | None = None) -> None:
        self.vocabulary = vocabulary
        self.labs = CORE_CATALOGUE if labs is None else labs

    def read(self, data: Any, patient: str | None = None, *, held: PatientFacts | None = None) -> PatientFacts:
        """The facts of one patient: the only Patient in the input, or the one ``patient`` names.

        ``held``: the patient as rxguard holds them (id, birth date, sex), assessed when the input
        holds no Patient; their demographics are taken as they are, not through a Patient resource.
        """
        if isinstance(data, dict) and data.get("resourceType") not in (None, "Bundle"):
            raise FactsError(
                f"input is a {data.get('resourceType')}, not a FHIR R4 Bundle; wrap the resources in a Bundle"
            )
        patients: list[tuple[str, Mapping[str, Any]]] = []
        medications_by_ref: dict[str, Mapping[str, Any]] = {}
        rest: list[Mapping[str, Any]] = []
        for full_url, res in iter_entries(data):
            rtype = res.get("resourceType")
            if rtype == "Patient":
                patients.append((full_url, res))
            elif rtype in ("Medication", "Substance"):
                rid = res.get("id")
                if isinstance(rid, str):
                    medications_by_ref[f"{rtype}/{rid}"] = res
                    medications_by_ref[f"#{rid}"] = res
                if full_url:
                    medications_by_ref[full_url] = res
            elif rtype in _READERS:
                rest.append(res)
            if rtype != "Medication":
                rest.extend(_contained_results(res))
        every = distinct_patients(patients)
        if not every and held is not None:
            every = [PatientEntry.of("", {"id": held.patient_id})]
        else:
            held = None
        chosen = choose_patient(every, patient)
        others = [p for p in every if p is not chosen]
        own = self._own_resources(rest, chosen, others)
        state = _State(self.vocabulary, self.labs, medications_by_ref, _birth_date(chosen, held))
        state.notes.extend(own[1])
        for res in own[0]:
            _READERS[res["resourceType"]](state, res)
        facts = self._facts(chosen, state)
        if held is not None:
            facts = dataclasses.replace(facts, birth_date=held.birth_date, sex=held.sex)
        return facts

    @staticmethod
    def _own_resources(
        resources: list[Mapping[str, Any]], chosen: PatientEntry, others: list[PatientEntry]
    ) -> tuple[list[Mapping[str, Any]], list[str]]:
        """The chosen patient's resources, and notes on what was left out or read on assumption."""
        own: list[Mapping[str, Any]] = []
        other = unresolved = 0
        pending: list[Mapping[str, Any]] = []
        for res in resources:
            owner = owner_of(res, chosen, others)
            if owner == "own":
                own.append(res)
            elif owner == "other":
                other += 1
            else:
                pending.append(res)
        # A reference that names someone else ("Patient/p2" with p2 not in the input, a dangling
        # urn:uuid, a Group) is another subject's record once the input's other references show how the
        # assessed patient is referred to. With no such reference, one subject named throughout is taken
        # to be the assessed patient under another id (read, and said so); several are several patients.
        chosen_id = chosen.resource.get("id")
        foreign = {id(res): name for res in pending if (name := named_subject(res)) is not None}
        foreign_ids = sorted(set(foreign.values()))
        elsewhere = 0
        if foreign and not others and not own and len(foreign_ids) > 1:
            raise FactsError(
                f"the input's resources name {len(foreign_ids)} patients ({', '.join(foreign_ids[:5])}) and none of "
                f"them is {chosen.label}; send one patient's resources with their Patient resource"
            )
        for res in pending:
            if id(res) in foreign and isinstance(chosen_id, str) and chosen_id and own:
                elsewhere += 1
            elif others:
                unresolved += 1
            else:
                own.append(res)
                unresolved += 1
        notes: list[str] = []
        if other:
            text = f"{other} resource(s) of another patient in the input were not read"
            notes.append(said("other-patient-not-read", text, count=other))
        if elsewhere:
            named = ", ".join(foreign_ids[:5])
            text = f"{elsewhere} resource(s) name another patient ({named}), not {chosen.label}, and were not read"
            notes.append(said("named-patient-not-read", text, count=elsewhere, patients=named, patient=chosen.label))
        if unresolved and others:
            text = (
                f"{unresolved} resource(s) name no patient of the input (no subject, or a reference that resolves "
                f"to none) and were not read, because the input holds several patients"
            )
            notes.append(said("no-patient-not-read", text, count=unresolved))
        elif unresolved:
            text = (
                f"{unresolved} resource(s) name no patient of the input (no subject, or a reference that resolves "
                f"to none); they were read as {chosen.label}'s, the only Patient given"
            )
            notes.append(said("no-patient-read-as-only", text, count=unresolved, patient=chosen.label))
        return own, notes

    @staticmethod
    def _facts(chosen: PatientEntry, state: _State) -> PatientFacts:
        patient = chosen.resource
        where = _Where(patient)
        birth = parse_date(patient.get("birthDate"), "birthDate", where)
        gender = _str(patient, "gender", where)
        sex: Sex = gender if gender in ("female", "male", "other") else "unknown"  # type: ignore[assignment]
        deceased_on = parse_date(patient.get("deceasedDateTime"), "deceasedDateTime", where)
        flag = patient.get("deceasedBoolean")
        if flag is not None and not isinstance(flag, bool):
            raise where.fail("deceasedBoolean", "true or false")
        labs = {
            key: tuple(sorted(values, key=lambda r: r.effective, reverse=True)) for key, values in state.labs.items()
        }
        by_tag: dict[str, list[ClinicalItem | MedicationUse]] = {}
        groups: tuple[tuple[str, list[Any]], ...] = (
            ("condition", state.conditions),
            ("allergy", state.allergies),
            ("procedure", state.procedures),
            ("medication", state.medications),
        )
        negated: dict[str, list[ClinicalItem]] = {}
        for kind, items in groups:
            for item in items:
                for tag in item.tags:
                    by_tag.setdefault(f"{kind}:{tag}", []).append(item)
                if isinstance(item, ClinicalItem):
                    for tag in item.negated:
                        negated.setdefault(f"{kind}:{tag}", []).append(item)
        pid = patient.get("id")
        unread_labs = {f"lab:{u.key}" for u in state.unreadable if u.kind == "lab"}
        return PatientFacts(
            patient_id=pid if isinstance(pid, str) else "",
            birth_date=birth,
            sex=sex,
            conditions=tuple(state.conditions),
            allergies=tuple(state.allergies),
            procedures=tuple(state.procedures),
            medications=tuple(state.medications),
            labs=labs,
            by_tag={tag: tuple(items) for tag, items in by_tag.items()},
            keys=frozenset(by_tag).union(negated, (f"lab:{test}" for test in labs), unread_labs),
            negated_by_tag={tag: tuple(items) for tag, items in negated.items()},
            unreadable=tuple(state.unreadable),
            reading_notes=tuple(state.notes),
            deceased=bool(flag) or deceased_on is not None,
            deceased_on=deceased_on,
            lab_defs=state.catalogue,
        )


class _State:
    __slots__ = (
        "allergies",
        "birth",
        "catalogue",
        "conditions",
        "labs",
        "medications",
        "medications_by_ref",
        "notes",
        "procedures",
        "unreadable",
        "vocab",
    )  # fmt: skip

    def __init__(
        self,
        vocab: Vocabulary,
        catalogue: LabCatalogue,
        medications_by_ref: dict[str, Mapping[str, Any]],
        birth: date | None = None,
    ) -> None:
        self.vocab = vocab
        self.birth = birth  # the patient's birth date, for onsets sent as an age
        self.catalogue = catalogue
        self.medications_by_ref = medications_by_ref
        self.conditions: list[ClinicalItem] = []
        self.allergies: list[ClinicalItem] = []
        self.procedures: list[ClinicalItem] = []
        self.medications: list[MedicationUse] = []
        self.labs: dict[str, list[LabResult]] = {}
        self.unreadable: list[Unreadable] = []
        self.notes: list[str] = []


def _concept_words(res: Mapping[str, Any], key: str, where: _Where) -> tuple[str, str]:
    """A CodeableConcept's own text and its codings' displays (joined as :func:`_codeable` joins them)."""
    concept = _dict(res, key, where)
    own = concept.get("text")
    displays = [
        c["display"]
        for c in _list(concept, "coding", where)
        if isinstance(c, dict) and isinstance(c.get("display"), str)
    ]
    return (own if isinstance(own, str) else ""), " / ".join(displays)


_KNOWN_SYSTEMS = frozenset(SYSTEMS.values())
#: Letters the packs' value sets name things in: Latin, Greek letters inside names (interferon β-1a), and
#: the signs Latin text writes with (µg, 1ª, ʼ).
_READ_SCRIPTS = ("LATIN", "GREEK", "MICRO SIGN", "MODIFIER LETTER", "FEMININE ORDINAL", "MASCULINE ORDINAL")


def _unread_script(text: str) -> bool:
    """Whether a record's words are written in a script no value set has names in (Chinese, Cyrillic...)."""
    if text.isascii():  # most records: no character to look up
        return False
    return any(c.isalpha() and not unicodedata.name(c, "").startswith(_READ_SCRIPTS) for c in text)


def _note_unread_words(state: _State, kind: str, where: _Where, codes: tuple[str, ...], text: str) -> None:
    """Fail visible: a record with no code rxguard reads, written in a script the value sets have no names
    in, was not read. It is listed as not read (the assessment's coverage is then incomplete) instead of
    being passed over as a record that names nothing the rules ask about."""
    if text and not any(code.split("|", 1)[0] in _KNOWN_SYSTEMS for code in codes) and _unread_script(text):
        why = said("record-script-not-read", f"{where.label}: “{text}” is written in words rxguard cannot read "
                   "and has no code it reads; it was not read", source=where.label, record=text)  # fmt: skip
        state.unreadable.append(Unreadable(kind, "", why))  # type: ignore[arg-type]


def _reading(state: _State, res: Mapping[str, Any], codes: tuple[str, ...], verification: str) -> Reading:
    """The item's tags with what its text negates or suspects; an unestablished verificationStatus makes all uncertain."""
    where = _Where(res)
    own, displays = _concept_words(res, "code", where)
    reading = state.vocab.read(codes, own, displays)
    if not (reading.tags or reading.negated):
        kind = {"AllergyIntolerance": "allergy", "Procedure": "procedure"}.get(
            str(res.get("resourceType")), "condition"
        )
        _note_unread_words(state, kind, where, codes, " / ".join(w for w in (own, displays) if w))
    if verification in _UNCERTAIN_VERIFICATION:
        reading = reading.all_uncertain(f"verificationStatus {verification}")
    return reading


def _clinical_item(reading: Reading, **fields: Any) -> ClinicalItem:
    return ClinicalItem(
        tags=reading.tags,
        negated=reading.negated,
        uncertain=reading.uncertain,
        cue=reading.cue,
        others=reading.others,
        **fields,
    )


def _read_condition(state: _State, res: Mapping[str, Any]) -> None:
    where = _Where(res)
    verification = _first_code(res, "verificationStatus", where)
    if verification in _SKIP_STATUS:
        return
    codes, text = _codeable(res, "code", where)
    clinical = _first_code(res, "clinicalStatus", where)
    onset, onset_latest, onset_text = _when_began(res, "onset", where, state.birth)
    abated, abated_latest, abated_text = _when_began(res, "abatement", where, state.birth)
    recorded = parse_date(res.get("recordedDate"), "recordedDate", where, last=True)
    # FHIR R4 con-4: an abated condition is inactive, resolved or in remission, whatever form the
    # abatement takes (a date, a period, an age, a range or words such as "resolved after surgery").
    # (abatementBoolean false, an STU3 form, says the condition has not abated.)
    abatement = any(
        key.startswith("abatement") and res[key] not in (None, "", {}) and res[key] is not False for key in res
    )
    active = clinical not in _INACTIVE_CLINICAL and abated is None and not abatement
    # Resolved, or abated with no status saying the condition is only inactive or in remission.
    ended = clinical == "resolved" or (abatement and clinical not in _STILL_PRESENT_CLINICAL)
    reading = _reading(state, res, codes, verification)
    state.conditions.append(
        _clinical_item(
            reading, text=text, codes=codes, active=active, onset=onset, abated=abated, status=clinical,
            verification=verification, ended=ended, onset_latest=onset_latest, onset_text=onset_text,
            abated_latest=abated_latest, abated_text=abated_text, recorded=recorded,
        )
    )  # fmt: skip


def _read_allergy(state: _State, res: Mapping[str, Any]) -> None:
    where = _Where(res)
    verification = _first_code(res, "verificationStatus", where)
    if verification in _SKIP_STATUS:
        return
    codes, text = _codeable(res, "code", where)
    clinical = _first_code(res, "clinicalStatus", where)
    onset, _ = _period_or_datetime(res, "onset", where)
    worst = ""
    manifestations: list[str] = []
    for reaction in _list(res, "reaction", where):
        if not isinstance(reaction, dict):
            raise where.fail("reaction", "an array of reaction objects")
        severity = _str(reaction, "severity", where)
        if _SEVERITY_ORDER.get(severity, 0) > _SEVERITY_ORDER.get(worst, 0):
            worst = severity
        for concept in _list(reaction, "manifestation", where):
            _, shown = _codeable({"c": concept}, "c", where)
            if shown:
                manifestations.append(shown)
    state.allergies.append(
        _clinical_item(
            _reading(state, res, codes, verification),
            text=text,
            codes=codes,
            active=clinical not in _INACTIVE_CLINICAL,
            onset=onset,
            abated=None,
            status=clinical,
            allergy_type=_str(res, "type", where),
            criticality=_str(res, "criticality", where),
            verification=verification,
            reaction_severity=worst,
            manifestations=tuple(manifestations),
        )
    )


def _read_procedure(state: _State, res: Mapping[str, Any]) -> None:
    where = _Where(res)
    status = _str(res, "status", where)
    if status in _SKIP_STATUS:
        return
    codes, text = _codeable(res, "code", where)
    start, end = _period_or_datetime(res, "performed", where)
    item = _clinical_item(
        _reading(state, res, codes, ""), text=text, codes=codes, active=False, onset=start, abated=end, status=status
    )
    state.procedures.append(item)
    lab = state.catalogue.key_for(codes, text)
    if lab is not None and start is not None:
        name = state.catalogue.display(lab)
        state.labs.setdefault(lab, []).append(LabResult(lab, start, text=text, source=where.label, name=name))


def _medication_concept(state: _State, res: Mapping[str, Any], where: _Where) -> tuple[tuple[str, ...], str, str]:
    """(codes, text, dose form words) of the medicine a request, statement, administration or dispense records."""
    if "medicationCodeableConcept" in res:
        return (*_codeable(res, "medicationCodeableConcept", where), "")
    ref = _dict(res, "medicationReference", where)
    shown = ref.get("display")
    display = shown if isinstance(shown, str) else ""
    contained = {f"#{c.get('id')}": c for c in _list(res, "contained", where) if isinstance(c, dict)}
    med = _resolve(state, contained, ref, ("Medication",))
    if med is not None:
        codes, text = _codeable(med, "code", _Where(med))
        _, form = _codeable(med, "form", _Where(med))
        return (*_with_ingredients(state, med, contained, codes, text or display), form)
    if not display:
        target = ref.get("reference")
        reference = target if isinstance(target, str) else "medicationReference"
        text = (
            f"{where.label}: its medicine ({reference}) is not in "
            "the input and has no display, so which medicine it records could not be read"
        )
        state.notes.append(said("medicine-reference-missing", text, source=where.label, reference=reference))
    return (), display, ""


def _route(res: Mapping[str, Any], where: _Where) -> str:
    """The words of a record's dosage route and method (the route a medicine is or was given by)."""
    key = (
        "dosage" if res["resourceType"] in ("MedicationStatement", "MedicationAdministration") else "dosageInstruction"
    )
    raw = res.get(key)
    dosages = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    words = []
    for dosage in dosages:
        if isinstance(dosage, dict):
            for part in ("route", "method"):
                _, text = _codeable(dosage, part, where)
                if text:
                    words.append(text)
    return " ; ".join(words)


def _resolve(
    state: _State, contained: Mapping[str, Mapping[str, Any]], ref: Mapping[str, Any], types: tuple[str, ...]
) -> Mapping[str, Any] | None:
    """The resource of one of ``types`` a Reference points to: contained (``#id``) or in the input
    (``Type/id``, its fullUrl, or an absolute URL ending in ``Type/id``)."""
    target = ref.get("reference")
    if not isinstance(target, str):
        return None
    target = target.split("/_history/", 1)[0]  # a versioned reference names the same resource
    found = contained.get(target) or state.medications_by_ref.get(target)
    if found is None and "/" in target:
        kind, _, rid = target.rstrip("/").rpartition("/")
        found = state.medications_by_ref.get(f"{kind.rpartition('/')[2]}/{rid}")
    return found if found is not None and found.get("resourceType") in types else None


def _with_ingredients(
    state: _State,
    med: Mapping[str, Any],
    contained: Mapping[str, Mapping[str, Any]],
    codes: tuple[str, ...],
    text: str,
) -> tuple[tuple[str, ...], str]:
    """A Medication's own code and text, and those of its active ingredients (a compounded product, a
    local formulary item with no code of its own, a combination): azathioprine in a capsule is azathioprine.

    An ingredient is an ``itemCodeableConcept`` or an ``itemReference`` to a Substance (or Medication)
    that is contained or in the input; one level deep, so a Medication that lists itself cannot loop.
    """
    where = _Where(med)
    all_codes, texts = list(codes), [text] if text else []
    for item in _list(med, "ingredient", where):
        if not isinstance(item, dict) or item.get("isActive") is False:
            continue
        if "itemCodeableConcept" in item:
            more, words = _codeable(item, "itemCodeableConcept", where)
        elif isinstance(item.get("itemReference"), dict):
            target = _resolve(state, contained, item["itemReference"], ("Substance", "Medication"))
            shown = item["itemReference"].get("display")
            if target is None or target is med:
                more, words = (), shown if isinstance(shown, str) else ""
            else:
                more, words = _codeable(target, "code", _Where(target))
        else:
            continue
        all_codes += [c for c in more if c not in all_codes]
        if words:
            texts.append(words)
    return tuple(all_codes), " / ".join(texts)


def _dosage(res: Mapping[str, Any], key: str, where: _Where) -> tuple[float | None, str, str]:
    """(dose value, dose unit, all instruction text) from Dosage or MedicationAdministration.dosage.

    The unit is read by :mod:`rxguard.facts.units` (the UCUM code wins over the text) and
    kept as UCUM; a unit it cannot read is kept as sent, and the dose rules say so.
    """
    if res.get("resourceType") == "MedicationAdministration":
        dosages = [res[key]] if key in res else []
    else:
        dosages = _list(res, key, where)
    texts: list[str] = []
    value: float | None = None
    unit = ""
    for dosage in dosages:
        if not isinstance(dosage, dict):
            raise where.fail(key, "Dosage objects")
        for part in ("text", "patientInstruction"):
            if isinstance(dosage.get(part), str):
                texts.append(dosage[part])
        for part in ("route", "method"):
            _, text = _codeable(dosage, part, where)
            if text:
                texts.append(text)
        quantities = (
            [dosage.get("dose")]
            if "dose" in dosage
            else [d.get("doseQuantity") for d in _list(dosage, "doseAndRate", where) if isinstance(d, dict)]
        )
        for qty in quantities:
            if isinstance(qty, dict) and value is None:
                raw = qty.get("value")
                if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
                    raise where.fail(f"{key}.dose.value", "a number")
                value = float(raw) if raw is not None else None
                unit = _dose_unit(qty)
    return value, unit, " ; ".join(texts)


def _dose_unit(qty: Mapping[str, Any]) -> str:
    """A dose quantity's unit as UCUM when it can be read (the code wins), else as sent."""
    code = qty.get("code") if isinstance(qty.get("code"), str) else None
    text = qty.get("unit") if isinstance(qty.get("unit"), str) else None
    try:
        return units.parse(code, text).ucum
    except units.UnitError:
        return (text or code or "").strip()


def _unit_of(qty: Mapping[str, Any]) -> str:
    """A Quantity's unit for :func:`units.parse`: its UCUM code if it has one, else its unit text."""
    code, text = qty.get("code"), qty.get("unit")
    if isinstance(code, str) and code.strip():
        return code.strip()
    return text.strip() if isinstance(text, str) else ""


def _read_medication(state: _State, res: Mapping[str, Any]) -> None:
    where = _Where(res)
    rtype = res["resourceType"]
    status = _str(res, "status", where)
    if status in _SKIP_STATUS:
        return
    refused = res.get("doNotPerform")
    if refused is not None and not isinstance(refused, bool):
        raise where.fail("doNotPerform", "true or false")
    if refused:  # an order NOT to give the medicine records no exposure to it
        return
    codes, text, form = _medication_concept(state, res, where)
    intent = ""
    supply_end: date | None = None
    start_latest: date | None = None
    if rtype == "MedicationRequest":
        kind = "request"
        intent = _str(res, "intent", where)
        start = parse_date(res.get("authoredOn"), "authoredOn", where)
        end = None
        for dosage in _list(res, "dosageInstruction", where):
            if not isinstance(dosage, dict):
                raise where.fail("dosageInstruction", "an array of Dosage objects")
            bounds = _dict(_dict(_dict(dosage, "timing", where), "repeat", where), "boundsPeriod", where)
            start = parse_date(bounds.get("start"), "boundsPeriod.start", where) or start
            end = parse_date(bounds.get("end"), "boundsPeriod.end", where, last=True) or end
        validity = _dict(_dict(res, "dispenseRequest", where), "validityPeriod", where)
        end = end or parse_date(validity.get("end"), "validityPeriod.end", where, last=True)
        dose, unit, instructions = _dosage(res, "dosageInstruction", where)
    elif rtype == "MedicationStatement":
        kind = "statement"
        start, end = _period_or_datetime(res, "effective", where)
        if "effectiveDateTime" in res:
            start_latest, end = end, None  # a partial date: taken some day of that year or month
        dose, unit, instructions = _dosage(res, "dosage", where)
    elif rtype == "MedicationDispense":
        kind = "dispense"
        handed = "whenHandedOver" if res.get("whenHandedOver") is not None else "whenPrepared"
        start = parse_date(res.get(handed), handed, where)
        # The supply runs from the latest day a partial date ("2026-01") allows.
        supply_end = _supply_end(state, res, parse_date(res.get(handed), handed, where, last=True), where)
        end = None
        dose, unit, instructions = _dosage(res, "dosageInstruction", where)
    else:
        kind = "administration"
        start, end = _period_or_datetime(res, "effective", where)
        dose, unit, instructions = _dosage(res, "dosage", where)
    tags = state.vocab.tags_for(codes, text, " ; ".join(w for w in (form, _route(res, where)) if w))
    if not tags:
        _note_unread_words(state, "medication", where, codes, text)
    if start is None and tags and kind in ("administration", "dispense"):
        why = said("medication-no-date", f"{where.label}: {text or 'medicine'} has no date", source=where.label,
                   record=text)  # fmt: skip
        state.unreadable.append(Unreadable("medication", "", why))
    state.medications.append(
        MedicationUse(
            text, codes, tags, kind, status, start, end, dose, unit, instructions, intent,  # type: ignore[arg-type]
            supply_end=supply_end, source=where.label, start_latest=start_latest if start_latest != start else None,
        )
    )  # fmt: skip


def _read_immunization(state: _State, res: Mapping[str, Any]) -> None:
    """An Immunization as an administration of its vaccine: ``vaccineCode`` tagged like any medicine,
    given on ``occurrenceDateTime`` (or ``occurrenceString`` when it holds a date; other words give no
    date). FHIR R4 immunization-status: completed is a vaccine given; not-done and entered-in-error
    record none (``statusReason`` says why it was not given)."""
    where = _Where(res)
    status = _str(res, "status", where)
    if status in _SKIP_STATUS:
        return
    codes, text = _codeable(res, "vaccineCode", where)
    start, end = _period_or_datetime(res, "occurrence", where)
    start_latest = end if end != start else None
    words = res.get("occurrenceString")
    if start is None and isinstance(words, str) and words.strip():
        try:
            start = parse_date(words.strip(), "occurrenceString", where)
            latest = parse_date(words.strip(), "occurrenceString", where, last=True)
        except FactsError:  # words ("childhood", "spring 2024") give no date
            start = latest = None
        start_latest = latest if latest != start else None
    tags = state.vocab.tags_for(codes, text, _codeable(res, "route", where)[1])
    if not tags:
        _note_unread_words(state, "medication", where, codes, text)
    if start is None and tags:
        record = text or "vaccine"
        if isinstance(words, str) and words.strip():
            why = said("medication-dated-in-words", f"{where.label}: {record} is dated only as “{words.strip()}”, which "
                       "gives no date", source=where.label, record=record, words=words.strip())  # fmt: skip
        else:
            why = said("medication-no-date", f"{where.label}: {record} has no date", source=where.label, record=record)
        state.unreadable.append(Unreadable("medication", "", why))
    state.medications.append(
        MedicationUse(
            text, codes, tags, "immunization", status, start, start, source=where.label, start_latest=start_latest
        )
    )


def _supply_end(state: _State, res: Mapping[str, Any], start: date | None, where: _Where) -> date | None:
    """Last day a dispense covers: handed over plus its ``daysSupply`` (a number the record states)."""
    qty = _dict(res, "daysSupply", where)
    raw = qty.get("value")
    if start is None or raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise where.fail("daysSupply.value", "a number")
    try:
        days = units.convert(float(raw), units.parse(_unit_of(qty) or "d"), "d")
    except units.UnitError as exc:
        state.notes.append(said("days-supply-not-read", f"{where.label}: daysSupply not read ({exc})",
                                source=where.label, detail=str(exc)))  # fmt: skip
        return None
    return start + timedelta(days=max(round(days), 0))


def _qualitative(text: str, lab: LabDef | None = None) -> str:
    """positive / negative / indeterminate from a result's words, or "".

    The lab's own words (labs.yaml ``values``) are read first, as whole phrases; then the
    generic ones ("Not detected", "Patient currently pregnant").
    """
    norm = normalize_text(text)
    if lab is not None:
        for reading, phrases in (
            ("indeterminate", lab.indeterminate), ("negative", lab.negative), ("positive", lab.positive)
        ):  # fmt: skip
            if any(_has_phrase(norm, phrase) for phrase in phrases):
                return reading
    words = norm.split()
    if any(w in _NEGATIVE_WORDS for w in words):
        return "negative"
    if any(w in _POSITIVE_WORDS for w in words):
        return "positive"
    return ""


def _has_phrase(norm: str, phrase: str) -> bool:
    wanted = normalize_text(phrase)
    return bool(wanted) and f" {wanted} " in f" {norm} "


def _quantity_in(
    qty: Mapping[str, Any], canonical: str, fallback: str, where: _Where, field: str
) -> tuple[float | None, str, str]:
    """(value in ``canonical``, unit as sent, problem) of one Quantity; ``fallback`` is the unit when none is sent."""
    raw = qty.get("value")
    if raw is None:
        return None, "", ""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise where.fail(f"{field}.value", "a number")
    code = qty.get("code") if isinstance(qty.get("code"), str) else None
    text = qty.get("unit") if isinstance(qty.get("unit"), str) else None
    sent = (text or code or "").strip()
    if not canonical:
        return float(raw), sent, ""
    if not (code or text):
        if not fallback:
            why = f"{where.label}: {field} {raw:g} has no unit, so it cannot be compared"
            return None, "", said("quantity-no-unit", why, source=where.label, field=field, value=float(raw))
        code = fallback
    try:
        unit = units.parse(code, text, enzyme_activity=canonical == "U/L")
        return units.convert(float(raw), unit, canonical), sent, ""
    except units.UnitError as exc:
        why = f"{where.label}: {field} {raw:g} {sent}: {exc}"
        return None, sent, said("quantity-unit", why, source=where.label, field=field, value=float(raw), unit=sent,
                                detail=str(exc))  # fmt: skip


_VALUE_KEYS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean")
# What a component of a panel shares with the panel that holds it.
_PANEL_KEYS = ("status", "subject", "patient", "effectiveDateTime", "effectiveInstant", "effectivePeriod", "issued")


def _read_observation(state: _State, res: Mapping[str, Any]) -> None:
    """An Observation, and each result in its ``component`` array (a panel such as a hepatic
    function panel sends ALT, AST and bilirubin as components of one Observation)."""
    where = _Where(res)
    if _str(res, "status", where) in _SKIP_STATUS:
        return
    read: set[str] = set()
    for n, component in enumerate(_list(res, "component", where)):
        if not isinstance(component, dict):
            raise where.fail("component", "an array of component objects")
        part = {key: res[key] for key in _PANEL_KEYS if key in res}
        part.update(component)
        part["resourceType"] = "Observation"
        part["id"] = f"{res.get('id')}.component[{n}]" if isinstance(res.get("id"), str) else f"component[{n}]"
        key = _read_result(state, part)
        if key is not None:
            read.add(key)
    if read and not any(k in res for k in _VALUE_KEYS):
        # A panel whose own code names a lab its components already gave (an antibody panel): the
        # panel is the container, not a further result without a value.
        codes, text = _codeable(res, "code", where)
        if state.catalogue.key_for(codes, text) in read:
            return
    _read_result(state, res)


def _read_result(state: _State, res: Mapping[str, Any]) -> str | None:
    """One result (an Observation or one of its components); the lab key it was read as, if any."""
    where = _Where(res)
    status = _str(res, "status", where)
    if status in _SKIP_STATUS:
        return None
    codes, text = _codeable(res, "code", where)
    key = state.catalogue.key_for(codes, text)
    if key is None:
        return None
    lab = state.catalogue[key]
    name = lab.display
    if status == "registered":
        # FHIR R4 observation-status: "the existence of the observation is registered, but there is no
        # result yet available". The test is ordered or in progress: no result to read, and rules that
        # need it say so (could not verify), whatever value the resource carries.
        why = f"{where.label}: {name} is registered (status registered) with no result yet"
        state.unreadable.append(Unreadable("lab", key, said("lab-registered", why, source=where.label, test=key)))
        return key
    effective, _ = _period_or_datetime(res, "effective", where)
    effective = effective or parse_date(res.get("issued"), "issued", where)
    if effective is None:
        why = f"{where.label}: {name} result has no date (effective[x] or issued)"
        state.unreadable.append(Unreadable("lab", key, said("lab-no-date", why, source=where.label, test=key)))
        return key
    canonical = lab.unit
    value: float | None = None
    unit = canonical
    sent_unit = ""
    problem = ""
    interpretation = ""
    value_text = ""
    comparator = ""
    if "valueQuantity" in res:
        quantity = _dict(res, "valueQuantity", where)
        value, sent_unit, problem = _quantity_in(quantity, canonical, "", where, "valueQuantity")
        unit = canonical or sent_unit
        comparator = _str(quantity, "comparator", where)
        if comparator not in ("", "<", "<=", ">=", ">"):
            raise where.fail("valueQuantity.comparator", "one of <, <=, >=, >")
    elif "valueCodeableConcept" in res:
        value_codes, value_text = _codeable(res, "valueCodeableConcept", where)
        coded = next((RESULT_CODES[c] for c in value_codes if c in RESULT_CODES), "")
        if "pregnancy" in state.vocab.tags_for(value_codes, "") and key == "pregnancy-status":
            interpretation = "positive"  # e.g. SNOMED CT 77386006 "Patient currently pregnant"
        elif coded:
            interpretation = coded
            value_text = value_text or _RESULT_DISPLAYS[coded]
        else:
            interpretation = next((_qualitative(t, lab) for t in value_text.split(" / ") if _qualitative(t, lab)), "")
    elif "valueString" in res:
        value_text = _str(res, "valueString", where)
        interpretation = _qualitative(value_text, lab)
    elif "valueBoolean" in res:
        flag = res["valueBoolean"]
        if not isinstance(flag, bool):
            raise where.fail("valueBoolean", "true or false")
        interpretation = "positive" if flag else "negative"
    if not interpretation:
        for concept in _list(res, "interpretation", where):
            if isinstance(concept, dict):
                code = _first_code({"c": concept}, "c", where)
                interpretation = _INTERPRETATION_CODES.get(code, "")
                if interpretation:
                    value_text = value_text or f"interpretation {code}"
                    break
    absent = _first_code(res, "dataAbsentReason", where) or _codeable(res, "dataAbsentReason", where)[1]
    if absent and value is None and not interpretation:
        value_text = value_text or f"no value (data absent: {absent})"
    if interpretation == "indeterminate":
        interpretation = ""
        why = f"{where.label}: {name} result “{value_text}” is indeterminate; repeat or confirm the test"
        problem = problem or said("lab-indeterminate", why, source=where.label, test=key, value_text=value_text)
    if lab.kind == "qualitative" and not interpretation and not problem:
        shown = value_text or ("no value" if value is None else f"{value:g}")
        why = f"{where.label}: {name} result “{shown}” could not be read as positive or negative"
        problem = said("lab-unread-word", why, source=where.label, test=key, value_text=shown)
    uln = lln = None
    range_problem = ""
    ranges = _list(res, "referenceRange", where)
    if ranges and isinstance(ranges[0], dict):
        fallback = _unit_of(_dict(res, "valueQuantity", where))
        found: dict[str, float | None] = {}
        for bound in ("high", "low"):
            limit = _dict(ranges[0], bound, where)
            if limit:
                number, _, trouble = _quantity_in(limit, canonical, fallback, where, f"referenceRange.{bound}")
                found[bound] = number
                range_problem = range_problem or trouble
        uln, lln = found.get("high"), found.get("low")
    as_sent = _as_sent(res, ranges[0] if ranges and isinstance(ranges[0], dict) else None) if value is None else None
    shown_as = f"{_number(res)} {sent_unit}".strip() if sent_unit and canonical and sent_unit != canonical else ""
    state.labs.setdefault(key, []).append(
        LabResult(
            key, effective, value, unit, interpretation, uln, lln, value_text or shown_as,
            problem=problem or range_problem, source=where.label, name=name, as_sent=as_sent,
            comparator=comparator if value is not None else "", status=status if status in _UNSETTLED else "",
        )
    )  # fmt: skip
    if status in _UNSETTLED:
        said_of = "is preliminary" if status == "preliminary" else "has the status unknown (final or not is not known)"
        text = f"{where.label}: {name} result of {effective} {said_of} (may be incomplete or unverified)"
        state.notes.append(said("result-preliminary", text, source=where.label, test=key, on=effective.isoformat()))
    return key


#: FHIR R4 observation-status values whose result may not be final: used, with a review of what it supports.
_UNSETTLED = frozenset({"preliminary", "unknown"})


def _as_sent(
    res: Mapping[str, Any], limits: Mapping[str, Any] | None
) -> tuple[float, float | None, float | None, str] | None:
    """A value rxguard could not convert, with the reference range sent in that same unit (or with none)."""
    qty = res.get("valueQuantity")
    if not isinstance(qty, dict) or limits is None:
        return None
    raw = qty.get("value")
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        return None
    unit = _unit_of(qty)
    if not unit:
        return None
    try:  # a unit rxguard cannot read at all ("furlongs") says nothing it could compare in
        units.parse(
            qty.get("code") if isinstance(qty.get("code"), str) else None,
            qty.get("unit") if isinstance(qty.get("unit"), str) else None,
        )
    except units.UnitError:
        return None
    bounds: dict[str, float | None] = {}
    for bound in ("high", "low"):
        limit = limits.get(bound)
        number = limit.get("value") if isinstance(limit, dict) else None
        if not isinstance(limit, dict) or not isinstance(number, int | float) or isinstance(number, bool):
            bounds[bound] = None
            continue
        if (_unit_of(limit) or unit) != unit:
            return None
        bounds[bound] = float(number)
    if bounds["high"] is None and bounds["low"] is None:
        return None
    return float(raw), bounds["high"], bounds["low"], unit


def _number(res: Mapping[str, Any]) -> str:
    raw = _dict(res, "valueQuantity", _Where(res)).get("value")
    return f"{raw:g}" if isinstance(raw, int | float) and not isinstance(raw, bool) else ""


def _read_report(state: _State, res: Mapping[str, Any]) -> None:
    """DiagnosticReport or ImagingStudy: records that a test (e.g. brain MRI) was done."""
    where = _Where(res)
    status = _str(res, "status", where)
    if status in _SKIP_STATUS:
        return
    key = "code" if res["resourceType"] == "DiagnosticReport" else "procedureCode"
    if key == "procedureCode":
        concepts = _list(res, "procedureCode", where)
        codes, text = (
            _codeable({"c": concepts[0]}, "c", where)
            if concepts and isinstance(concepts[0], dict)
            else ((), _str(res, "description", where))
        )
    else:
        codes, text = _codeable(res, "code", where)
    lab = state.catalogue.key_for(codes, text)
    if lab is None:
        return
    effective, _ = _period_or_datetime(res, "effective", where)
    effective = effective or parse_date(res.get("started") or res.get("issued"), "started", where)
    if effective is not None:
        name = state.catalogue.display(lab)
        state.labs.setdefault(lab, []).append(LabResult(lab, effective, text=text, source=where.label, name=name))


_READERS = {
    "Condition": _read_condition,
    "AllergyIntolerance": _read_allergy,
    "Procedure": _read_procedure,
    "MedicationRequest": _read_medication,
    "MedicationStatement": _read_medication,
    "MedicationAdministration": _read_medication,
    "MedicationDispense": _read_medication,
    "Observation": _read_observation,
    "DiagnosticReport": _read_report,
    "ImagingStudy": _read_report,
    "Immunization": _read_immunization,
}
