"""The patient rxguard holds joins a request's facts directly, exactly as if the request had held that Patient.

For every vignette bundle of every pack: drop its Patient, read it with the held demographics
(id, birth date, sex) and compare with reading it where the Patient is only those three values
(what the dose path used to merge into the bundle as a FHIR Patient and parse back).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rxguard.engine import read_facts
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import load_all
from rxguard.program.schedule import demographics

AT = date(2026, 1, 5)


def _cases() -> list[Any]:
    cases = []
    for pack_id, pack in sorted(load_all().items()):
        for vfile, index, vignette in pack.vignettes():
            if vignette.patient:
                cases.append(pytest.param(pack_id, vignette.patient, id=f"{pack_id}-{vfile.path.stem}-{index}"))
    return cases


@pytest.mark.parametrize(("pack_id", "patient"), _cases())
def test_held_demographics_read_like_a_patient_resource_of_them(pack_id: str, patient: dict[str, Any]) -> None:
    bundle = build_bundle(patient, at=AT, drug=pack_id)
    entries = bundle["entry"]
    found = [e["resource"] for e in entries if e["resource"].get("resourceType") == "Patient"]
    assert len(found) == 1
    resource = found[0]
    held = demographics(resource["id"], date.fromisoformat(resource["birthDate"]) if "birthDate" in resource
                        else None, resource.get("gender"))  # fmt: skip
    minimal = {"resourceType": "Patient", "id": resource["id"]}
    minimal |= {k: resource[k] for k in ("birthDate", "gender") if k in resource}
    others = [e for e in entries if e["resource"].get("resourceType") != "Patient"]
    as_resource = read_facts({**bundle, "entry": [{"resource": minimal}, *others]})
    direct = read_facts({**bundle, "entry": others}, held=held)
    assert direct == as_resource
    # A bundle that brings its own Patient is read as it is: the held patient is not used.
    assert read_facts(bundle, held=demographics("someone-else", None, None)) == read_facts(bundle)
