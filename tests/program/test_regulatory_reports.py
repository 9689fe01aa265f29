"""Regulatory adverse-event output: actuality, reporter-supplied MedDRA, the E2B(R3) ICSR, the 15-day clock."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from personas import World

from rxguard.errors import InputError
from rxguard.program import adverse_events, icsr
from rxguard.program.registry import get_program
from rxguard.store.models import AdverseEvent

LLT = "10000001"  # an 8-digit code of the right shape; not claimed to be any real MedDRA term
SENDER = icsr.Sender(
    identifier="RXG-TEST", organisation="Example REMS Administrator", department="Drug Safety", title="Dr",
    given_name="Ana", family_name="Silva", street="1 Main St", city="Concord", state="MA", postcode="01742",
    country="US", telephone="6170000000", fax="6170000001", email="safety@example.org",
)  # fmt: skip


def _report(world: World, **kw: Any) -> AdverseEvent:
    values: dict[str, Any] = {
        "program_id": "touch", "patient_key": "pat_amy", "kind": "pml-suspected", "serious": True,
        "seriousness": ["hospitalisation"], "onset_on": world.at.date() - timedelta(days=2), "outcome": "unknown",
        "description": "New hemiparesis over a week; MRI lesion suggestive of PML", "at": world.at, "actor": "dr_ada",
    }  # fmt: skip
    values.update(kw)
    with world.tx() as s:
        event = adverse_events.report_adverse_event(s, **values)
        s.expunge(event)
    return event


@pytest.mark.parametrize("kind", [k.id for k in get_program("touch").kinds.adverse_events])
def test_every_recorded_event_is_actual_suspected_pml_included(world: World, kind: str) -> None:
    event = _report(world, kind=kind, serious=False, seriousness=[])
    with world.tx() as s:
        resource = adverse_events.to_fhir(s, s.get(AdverseEvent, event.id))
    assert resource["actuality"] == "actual"


@pytest.mark.parametrize(
    ("version", "llt", "pt", "says"),
    [
        ("27.1", "1000000", None, "8 digits"),
        ("27.1", "1000000a", None, "8 digits"),
        ("27.1", LLT, "123", "PT code"),
        ("v27", LLT, None, "27.1"),
        ("127.10", LLT, None, "27.1"),
        (None, LLT, None, "version"),
        ("27.1", None, None, "LLT"),
    ],
)
def test_meddra_coding_is_shape_checked_never_invented(
    world: World, version: str | None, llt: str | None, pt: str | None, says: str
) -> None:
    with pytest.raises(InputError, match=says):
        _report(world, meddra_version=version, meddra_llt=llt, meddra_pt=pt)


def test_reporter_supplied_meddra_is_in_the_fhir_event(world: World) -> None:
    event = _report(world, meddra_version="27.1", meddra_llt=LLT)
    with world.tx() as s:
        coding = adverse_events.to_fhir(s, s.get(AdverseEvent, event.id))["event"]["coding"]
    assert {"system": adverse_events.MEDDRA_SYSTEM, "version": "27.1", "code": LLT} in coding


def _icsr(world: World, event: AdverseEvent, sender: icsr.Sender = SENDER) -> bytes:
    with world.tx() as s:
        return icsr.to_icsr(s, s.get(AdverseEvent, event.id), sender, now=world.at)


def test_a_coded_suspected_pml_report_meets_the_element_list(world: World) -> None:
    event = _report(world)
    with world.tx() as s:
        adverse_events.code_adverse_event(s, event_id=event.id, version="27.1", llt=LLT, pt=None, at=world.at,
                                          actor="safety")  # fmt: skip
    xml = _icsr(world, event)
    assert icsr.check_icsr(xml) == []
    root = ET.fromstring(xml)
    assert root.tag == f"{{{icsr.HL7}}}MCCI_IN200100UV01"
    texts = xml.decode()
    assert 'displayName="15-Day"' in texts  # FDA.C.1.7.1: serious, expectedness not assessed
    assert f'code="{LLT}"' in texts and 'codeSystemVersion="27.1"' in texts


def test_an_uncoded_report_or_a_missing_sender_is_named_not_filled_in(world: World) -> None:
    event = _report(world)
    problems = icsr.check_icsr(_icsr(world, event, icsr.Sender()))
    numbers = {p.split()[0] for p in problems}
    assert {"E.i.2.1a", "E.i.2.1b", "C.3.2", "N.1.3"} <= numbers
    assert not {"D.1", "G.k.2.2", "H.1", "E.i.7"} & numbers


def test_removing_any_required_element_is_reported_by_number(world: World) -> None:
    """Mechanism: for every element of the list, a message without it fails with that element's number."""
    event = _report(world)
    with world.tx() as s:
        adverse_events.code_adverse_event(s, event_id=event.id, version="27.1", llt=LLT, pt=None, at=world.at,
                                          actor="safety")  # fmt: skip
    xml = _icsr(world, event)
    for element in icsr.ELEMENTS:
        root = ET.fromstring(xml)
        path, _, attribute = element.path.partition("/@")
        node = icsr._find(root, path)
        assert node is not None, element.number
        if attribute:
            del node.attrib[attribute]
        else:
            node.text, node.attrib = None, {k: v for k, v in node.attrib.items() if k not in ("value", "nullFlavor")}
        problems = icsr.check_icsr(ET.tostring(root))
        assert any(p.startswith(element.number + " ") for p in problems), (element.number, problems)


def _clock(world: World, days: int) -> list[Any]:
    with world.tx() as s:
        return adverse_events.alert_clock(s, on=world.at.date() + timedelta(days=days))


def test_the_fifteen_day_clock_runs_for_serious_events_not_assessed_as_expected(world: World) -> None:
    event = _report(world)
    [row] = _clock(world, 0)
    assert row.due_on == world.at.date() + timedelta(days=15) and row.status == "due"
    assert [r.status for r in _clock(world, 15)] == ["due"]
    assert [r.status for r in _clock(world, 16)] == ["overdue"]
    with world.tx() as s:
        adverse_events.assess_expectedness(s, event_id=event.id, expectedness="expected", at=world.at, actor="safety")
    assert _clock(world, 0) == []
    with world.tx() as s:
        adverse_events.assess_expectedness(s, event_id=event.id, expectedness="unexpected", at=world.at, actor="qa")
        adverse_events.record_alert_submission(s, event_id=event.id, on=world.at.date(), at=world.at, actor="qa")
    assert _clock(world, 0) == []


def test_a_non_serious_event_has_no_clock(world: World) -> None:
    _report(world, kind="other", serious=False, seriousness=[])
    assert _clock(world, 0) == []
